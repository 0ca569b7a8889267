#include "run_report.h"

#include <cmath>
#include <cstdio>

namespace bnr::broker {
namespace {

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", value);
  return buf;
}

std::string number(long long value) { return std::to_string(value); }
std::string number(std::size_t value) { return std::to_string(value); }

// Members of one JSON object, comma-separated as they are added.
class Object {
 public:
  Object& raw(const char* key, const std::string& json) {
    text_ += (text_.empty() ? "{" : ", ") + quote(key) + ": " + json;
    return *this;
  }
  template <typename T>
  Object& num(const char* key, T value) {
    return raw(key, number(value));
  }
  Object& str(const char* key, const std::string& value) { return raw(key, quote(value)); }
  [[nodiscard]] std::string json() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

template <typename T, typename F>
std::string array(const std::vector<T>& items, F&& each) {
  std::string out = "[";
  for (const T& item : items) out += (out.size() > 1 ? ", " : "") + each(item);
  return out + "]";
}

std::string agent_json(const AgentReport& a, long long frame_pixels, double wall_seconds) {
  const AgentRow row = agent_row(a, frame_pixels, wall_seconds);
  return Object()
      .str("name", a.name)
      .num("regions", a.regions)
      .num("pixels", a.pixels)
      .num("share_percent", row.share_percent)
      .num("load_seconds", row.load_seconds)
      .num("busy_seconds", row.busy_seconds)
      .num("idle_seconds", row.idle_seconds)
      .num("busy_percent", row.busy_percent)
      .raw("finish_seconds", row.finish_seconds >= 0 ? number(row.finish_seconds) : "null")
      .num("vs_frame_seconds", row.vs_frame_seconds)
      .num("wasted", a.wasted)
      .str("note", a.note)
      .str("device", a.device)
      .json();
}

std::string job_json(const JobRecord& job) {
  const JobSummary& s = job.summary;
  const long long frame_pixels = static_cast<long long>(s.width) * s.height;
  std::size_t regions = 0, wasted = 0;
  long long pixels = 0;
  double busy = 0;
  for (const AgentReport& a : s.agents) {
    regions += a.regions;
    wasted += a.wasted;
    pixels += a.pixels;
    busy += a.busy_seconds;
  }
  const std::string totals =
      Object().num("regions", regions).num("pixels", pixels).num("wasted", wasted).num("busy_seconds", busy).json();
  return Object()
      .str("scene", job.scene)
      .raw("frame", job.frame ? std::to_string(*job.frame) : "null")
      .num("width", static_cast<long long>(s.width))
      .num("height", static_cast<long long>(s.height))
      .num("regions", s.regions)
      .num("resumed_regions", s.resumed_regions)
      .num("seconds", s.seconds)
      .raw("first_region_seconds", s.first_region_seconds >= 0 ? number(s.first_region_seconds) : "null")
      .num("overdraw", s.overdraw)
      .num("scene_bytes_sent", static_cast<long long>(s.scene_bytes_sent))
      .raw("outputs", array(s.written, [](const std::filesystem::path& p) { return quote(p.string()); }))
      .raw("totals", totals)
      .raw("agents", array(s.agents, [&](const AgentReport& a) { return agent_json(a, frame_pixels, s.seconds); }))
      .json();
}

}  // namespace

const char* exit_reason(int exit_code) {
  if (exit_code == 0) return "done";
  return exit_code == 130 ? "interrupted" : "failed";
}

std::string run_report_json(const RunOutcome& outcome) {
  return Object()
             .num("format", 1LL)
             .num("exit_code", static_cast<long long>(outcome.exit_code))
             .str("exit_reason", exit_reason(outcome.exit_code))
             .raw("error", outcome.exit_code == 0 ? "null" : quote(outcome.error))
             .raw("jobs", array(outcome.jobs, job_json))
             .json() +
         "\n";
}

}  // namespace bnr::broker
