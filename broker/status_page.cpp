#include "status_page.h"

#include <charconv>
#include <stdexcept>

#include "json_text.h"

namespace bnr::broker {
namespace {

std::string trimmed_progress(const JobStatus& s) {
  std::string line = progress_line(s.fraction_done, s.regions_done, s.agents.size(),
                                   std::chrono::duration<double>(s.elapsed_seconds),
                                   std::chrono::duration<double>(s.eta_seconds));
  line.erase(0, line.find_first_not_of(' '));
  return line;
}

std::string progress_text(const std::optional<JobStatus>& status) {
  return status ? trimmed_progress(*status) : "waiting for the frame to start";
}

// Agent names and scene paths come from elsewhere: never markup.
std::string html_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string agent_json(const AgentReport& a) {
  return json::Object()
      .str("name", a.name)
      .num("regions", a.regions)
      .num("pixels", a.pixels)
      .num("busy_seconds", a.busy_seconds)
      .str("state", a.state)
      .str("note", a.note)
      .text();
}

std::string agent_row(const AgentReport& a) {
  auto cell = [](const std::string& text) { return "<td>" + html_escape(text) + "</td>"; };
  char busy[32];
  std::snprintf(busy, sizeof busy, "%.1f s", a.busy_seconds);
  return "<tr>" + cell(a.name) + cell(a.state) + cell(std::to_string(a.regions)) + cell(std::to_string(a.pixels)) +
         cell(busy) + cell(a.note) + "</tr>";
}

// Rebuilds what the server rendered, from /status.json; text only (textContent), never HTML.
constexpr const char* kScript = R"JS(
const $ = (id) => document.getElementById(id);
let polls = 0;
async function refresh() {
  try {
    const s = await (await fetch('/status.json', {cache: 'no-store'})).json();
    $('progress').textContent = s.progress;
    const body = document.createElement('tbody');
    body.id = 'agents';
    for (const a of s.agents) {
      const row = body.insertRow();
      for (const v of [a.name, a.state, a.regions, a.pixels, a.busy_seconds.toFixed(1) + ' s', a.note])
        row.insertCell().textContent = v;
    }
    $('agents').replaceWith(body);
    if (++polls % 3 === 0) $('preview').src = '/preview.png?t=' + Date.now();
  } catch (e) {
    $('progress').textContent = 'the broker is not answering (finished or stopped)';
  }
}
setInterval(refresh, 1000);
)JS";

const char* reason(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

bool is_token_char(char c) { return c >= 'A' && c <= 'Z'; }

}  // namespace

ListenAddress parse_listen_address(const std::string& text) {
  ListenAddress out;
  std::string port = text;
  const auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    out.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
      out.host = out.host.substr(1, out.host.size() - 2);
    if (out.host.empty()) throw std::runtime_error("--http '" + text + "': the address before ':' is empty");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    throw std::runtime_error("--http '" + text + "': expected [ADDR:]PORT with PORT 0..65535");
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

HttpRequest parse_request(std::string_view received) {
  using V = HttpRequest::Verdict;
  const auto line_end = received.find('\n');
  if (line_end == std::string_view::npos)
    return {received.size() >= kMaxRequestBytes ? V::bad_request : V::incomplete, {}};
  const bool headers_done = received.find("\r\n\r\n") != std::string_view::npos ||
                            received.find("\n\n") != std::string_view::npos;
  if (!headers_done) return {received.size() >= kMaxRequestBytes ? V::bad_request : V::incomplete, {}};
  std::string_view line = received.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // "METHOD SP PATH SP HTTP/1.x", exactly.
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp1 == 0) return {V::bad_request, {}};
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  for (const char c : method)
    if (!is_token_char(c)) return {V::bad_request, {}};
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return {V::bad_request, {}};
  if (target.empty() || target.front() != '/') return {V::bad_request, {}};
  for (const char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return {V::bad_request, {}};
  if (method != "GET") return {V::method_not_allowed, {}};
  return {V::get, std::string(target.substr(0, target.find('?')))};
}

std::string status_json(const std::optional<JobStatus>& status) {
  const JobStatus s = status.value_or(JobStatus{});
  return json::Object()
             .str("state", status ? "rendering" : "starting")
             .str("scene", s.scene)
             .num("width", static_cast<long long>(s.width))
             .num("height", static_cast<long long>(s.height))
             .num("percent", 100.0 * s.fraction_done)
             .num("regions_done", s.regions_done)
             .num("elapsed_seconds", s.elapsed_seconds)
             .raw("eta_seconds", s.eta_seconds >= 0 ? json::number(s.eta_seconds) : "null")
             .str("progress", progress_text(status))
             .raw("agents", json::array(s.agents, agent_json))
             .text() +
         "\n";
}

std::string status_page_html(const std::optional<JobStatus>& status) {
  // The image records its decoded size (data-size): what a headless browser test can see.
  std::string rows;
  if (status)
    for (const AgentReport& a : status->agents) rows += agent_row(a);
  const std::string title = "bnr: " + html_escape(status ? status->scene : std::string("starting"));
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + title +
         "</title>\n<style>body{font-family:sans-serif;margin:1em}"
         "img{max-width:100%;background:repeating-conic-gradient(#ccc 0 25%,#fff 0 50%) 0 0/16px 16px}"
         "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}</style></head>\n<body>\n<h1>" +
         title + "</h1>\n<p id=\"progress\">" + html_escape(progress_text(status)) +
         "</p>\n<img id=\"preview\" src=\"/preview.png\" alt=\"the frame so far\" "
         "onload=\"this.dataset.size = this.naturalWidth + 'x' + this.naturalHeight\">\n"
         "<table><thead><tr><th>agent</th><th>state</th><th>regions</th><th>pixels</th><th>busy</th><th>note</th>"
         "</tr></thead><tbody id=\"agents\">" +
         rows + "</tbody></table>\n<script>" + kScript + "</script>\n</body></html>\n";
}

std::string http_response(int code, std::string_view content_type, std::string_view body) {
  std::string out = "HTTP/1.0 " + std::to_string(code) + " " + reason(code) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (code == 405) out += "Allow: GET\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

std::string respond(const HttpRequest& request, const std::optional<JobStatus>& status,
                    const std::function<std::optional<std::string>()>& preview_png) {
  using V = HttpRequest::Verdict;
  constexpr const char* text = "text/plain; charset=utf-8";
  switch (request.verdict) {
    case V::incomplete:
    case V::bad_request: return http_response(400, text, "bad request\n");
    case V::method_not_allowed: return http_response(405, text, "only GET\n");
    case V::get: break;
  }
  if (request.path == "/") return http_response(200, "text/html; charset=utf-8", status_page_html(status));
  if (request.path == "/status.json") return http_response(200, "application/json", status_json(status));
  if (request.path == "/preview.png") {
    const std::optional<std::string> png = preview_png();
    return png ? http_response(200, "image/png", *png) : http_response(503, text, "no preview yet\n");
  }
  return http_response(404, text, "not found\n");
}

}  // namespace bnr::broker
