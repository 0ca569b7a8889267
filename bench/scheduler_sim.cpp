// bnr-bench-scheduler: a discrete-event simulation of one frame rendered by virtual agents,
// comparing four ways of splitting it: the old tool's static strips sized by a speed test,
// fixed equal tiles pulled in order, factoring sized in pixels, and ours (RegionScheduler's
// kPredictedSeconds). The three dynamic schemes run the real RegionScheduler, driven with a
// fake clock the way bnr-broker drives it (one region rendering plus one prefetched per
// agent, duplicates cancelled when the other copy wins, a moved region cancelled on the agent
// that had it queued, a refused idle agent asked again at retry_after). Prints makespan /
// ideal (mean, p95) and the finish spread between the first and the last agent to finish its
// last accepted region, per scenario.
//
// Exit status: 0 whenever the simulation ran (targets met or not), 1 on an error, 2 on bad
// flags.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <time.h>
#include <vector>

#include "band_layout.h"
#include "cost_map_store.h"
#include "frame_buffer.h"
#include "region_scheduler.h"
#include "split_text.h"

namespace {

using bnr::broker::AgentId;
using bnr::broker::Clock;
using bnr::broker::RegionId;
using bnr::broker::RegionScheduler;
using bnr::broker::SchedulerConfig;
using bnr::broker::Seconds;
using bnr::broker::SizingKind;
using bnr::protocol::Rect;

// The simulated frame and machines. Times are plain doubles in seconds inside the simulator
// (it is its own clock); they become Clock::time_point only at the scheduler's interface.
constexpr int kDefaultWidth = 16384;     // columns: a 16K frame
constexpr int kMaxAgents = 1024;
constexpr double kTotalWork = 3600.0;    // reference seconds: one hour on a speed-1 agent
constexpr double kOverhead = 0.05;       // per region on the agent (border change, sync, PNG)
constexpr double kLatency = 0.002;       // one way, broker <-> agent
constexpr int kPrefetch = 1;             // as bnr-broker: one rendering + one queued
constexpr double kProfileError = 0.6;    // speed hints are true speed x (1 +- up to 60%)
constexpr double kColumnNoise = 0.05;    // per-column cost x (1 +- up to 5%)
constexpr int kFixedTileWidth = 64;      // fixed tiles: 256 of them
constexpr double kHotBandShare = 0.12;
constexpr double kHotBandFactor = 20.0;
constexpr double kHotSpotWidth = 0.12;   // of the frame's width
constexpr double kHotSpotHeight = 0.3;   // of its height: cost that varies down the frame too
constexpr double kLopsidedShare = 0.2;
constexpr double kLopsidedFactor = 4.0;
constexpr double kTargetMean = 1.05;
constexpr double kTargetP95 = 1.10;
constexpr double kSpreadShare = 0.02;
constexpr double kSpreadFloor = 1.0;     // seconds

constexpr const char* kUsage =
    "usage: bnr-bench-scheduler [options]\n"
    "\n"
    "Simulates rendering one frame (an hour of work on one speed-1 agent) on virtual agents and\n"
    "compares static strips, fixed tiles, factoring in pixels and ours.\n"
    "\n"
    "options:\n"
    "  --seeds N          random worlds per scenario (default 200)\n"
    "  --width PX         columns of the frame (default 16384; e.g. 1920, 4096)\n"
    "  --height PX        rows of the frame (default width x 9 / 16)\n"
    "  --bands N          ours in N horizontal bands (default: as many as bnr-broker chooses for\n"
    "                     the frame, margin and agents; 1 = full-height columns)\n"
    "  --margin PX        overlap columns rendered on each side of every region, as with\n"
    "                     adaptive sampling (default 0); they cost like their neighbours and\n"
    "                     the ideal excludes them\n"
    "  --agents N         N agents with speeds spread from 0.25 to 4 on a log scale (up to\n"
    "                     1024) instead of the two default sets (1,1,2,4 and 8 x 0.25..4)\n"
    "  --speeds LIST      agents with these true speeds instead, e.g. 1,1 (two equal\n"
    "                     machines, as bnr-bench-overhead runs)\n"
    "  --cost-map PATH    measured cost per strip, one number a line (default:\n"
    "                     bench/sim/demo_cost_map.txt in the source tree)\n"
    "  --trace S:SEED     print ours' hand-outs and results for scenario S (1-based) and SEED\n"
    "  --one-by-one       add each agent and hand it regions before the next one is known, as\n"
    "                     bnr-broker does when JobReady messages arrive in turn (default: all\n"
    "                     agents are known before the first hand-out)\n"
    "  --reassign-idle    after every result, offer work to every agent below its quota (bnr-broker\n"
    "                     only asks for the agent that sent the result and those it cancels)\n"
    "  --no-retry         never ask a refused idle agent again until something happens to it (as\n"
    "                     bnr-broker did before it used RegionScheduler::retry_after)\n"
    "  --exact-hints      speed hints are the true speeds (default: off by up to 60%)\n"
    "  --profile          ours starts from a cost map, as bnr-broker --speed-test gives it: the\n"
    "                     true cost per column, averaged over 1/128 of the width (full height; a\n"
    "                     hot spot's rows are not in it)\n"
    "  --stale-profile    with --profile: the map is of an older version of the scene, its costs a\n"
    "                     third of the width off (the scheduler must notice and drop it)\n"
    "  --learned-profile  ours renders each frame twice and is timed the second time, which starts\n"
    "                     from the cost map the first learned (a scene rendered again, unchanged)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 simulated (targets met or not), 1 error, 2 bad flags.\n";

enum class CostKind { kUniform, kLopsided, kHotBand, kHotSpot, kMeasured };
enum class Scheme { kStaticStrips, kFixedTiles, kFactoringPixels, kOurs };
constexpr Scheme kSchemes[] = {Scheme::kStaticStrips, Scheme::kFixedTiles, Scheme::kFactoringPixels, Scheme::kOurs};

const char* scheme_name(Scheme s) {
  switch (s) {
    case Scheme::kStaticStrips: return "static strips";
    case Scheme::kFixedTiles: return "fixed tiles 64px";
    case Scheme::kFactoringPixels: return "factoring pixels";
    case Scheme::kOurs: return "ours";
  }
  return "?";
}

struct Scenario {
  std::string agents_name;
  std::vector<double> speeds;
  CostKind cost = CostKind::kUniform;
  bool halving = false;

  [[nodiscard]] std::string name() const {
    static const char* const kCostNames[] = {"uniform", "lopsided 4x", "hot band 20x", "hot spot 20x", "measured"};
    return agents_name + " | " + kCostNames[static_cast<int>(cost)] + (halving ? " | one halves" : "");
  }
};

// One seed's draw of the world; every scheme sees the same one.
struct World {
  int width = kDefaultWidth;
  int height = kDefaultWidth * 9 / 16;
  int margin = 0;                   // overlap columns (and rows, between bands) on each side of a region
  int bands = 1;                    // ours: horizontal bands (the other schemes: full-height columns)
  std::vector<double> prefix;       // prefix[x] = work of columns [0, x), reference seconds
  Rect spot;                        // where each pixel costs `spot_extra` more (hot spot)
  double spot_extra = 0;            // reference seconds per pixel
  std::vector<double> speeds;       // true speeds before any halving
  std::vector<double> hints;        // the speed profile the scheduler (and the strips) get
  std::size_t halving_agent = std::numeric_limits<std::size_t>::max();
  double halve_at = std::numeric_limits<double>::infinity();
  double ideal = 0;                 // seconds
  double bound = 0;                 // no column split does better, margins counted (seconds)
  double tile_bound = 0;            // no split into rectangles (bands or not) does better (seconds)

  [[nodiscard]] double work(int x0, int x1) const {
    return prefix[static_cast<std::size_t>(x1)] - prefix[static_cast<std::size_t>(x0)];
  }
  // A cost map of the frame such as a speed test gives: cost per column, averaged over strips,
  // without the hot spot (it varies by row).
  [[nodiscard]] std::vector<double> profile() const {
    constexpr int kStrips = 128;
    std::vector<double> out(static_cast<std::size_t>(kStrips));
    for (int i = 0; i < kStrips; ++i) {
      const int x0 = i * width / kStrips, x1 = std::max(x0 + 1, (i + 1) * width / kStrips);
      out[static_cast<std::size_t>(i)] = work(x0, x1) / (x1 - x0);
    }
    return out;
  }
  // What rendering the region costs: its pixels and its margins, clipped to the frame; a
  // column's work is spread evenly over its rows, plus the hot spot's where it overlaps.
  [[nodiscard]] double rendered_work(const Rect& r) const {
    const Rect rendered = bnr::broker::with_margin(r, margin, width, height);
    return work(rendered.x0, rendered.x1) * rendered.height() / height + spot_extra * overlap(rendered, spot);
  }
  [[nodiscard]] static double overlap(const Rect& a, const Rect& b) {
    const int w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0), h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
    return w > 0 && h > 0 ? static_cast<double>(w) * h : 0.0;
  }
  [[nodiscard]] double speed_at(std::size_t agent, double t) const {
    return agent == halving_agent && t >= halve_at ? speeds[agent] / 2 : speeds[agent];
  }
  // When a region of `work` started at `start` ends: the fixed overhead, then the render at
  // the agent's speed, which halves mid-render if the halving time falls inside it.
  [[nodiscard]] double finish_time(std::size_t agent, double start, double work) const {
    const double t = start + kOverhead;
    const double s = speed_at(agent, t);
    if (agent != halving_agent || t >= halve_at || t + work / s <= halve_at) return t + work / s;
    return halve_at + (work - s * (halve_at - t)) / (s / 2);
  }
};

std::vector<double> load_cost_map(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the measured cost map " + path);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    values.push_back(std::stod(line));
  }
  if (values.empty()) throw std::runtime_error(path + ": no numbers");
  return values;
}

// The fluid optimum: every agent busy until the last instant (total work / sum of speeds,
// with the halving taken into account), plus what no scheme avoids: one region's overhead
// per agent and a round trip.
double ideal_makespan(const World& w) {
  double total_speed = 0;
  for (double s : w.speeds) total_speed += s;
  double t = kTotalWork / total_speed;
  if (w.halving_agent < w.speeds.size() && t > w.halve_at)
    t = w.halve_at + (kTotalWork - total_speed * w.halve_at) / (total_speed - w.speeds[w.halving_agent] / 2);
  return t + kOverhead + 2 * kLatency;
}

// A lower bound on the makespan of any split into full-height column regions with margins:
// using the k fastest agents, the k - 1 cuts each render 2 x margin columns twice, at least
// at the cheapest column's cost; the best k wins. (Like the ideal, it ignores the halving.)
double margin_bound(const World& w, const std::vector<double>& cost_per_column) {
  if (w.margin == 0) return w.ideal;
  std::vector<double> speeds = w.speeds;
  std::sort(speeds.rbegin(), speeds.rend());
  const double cheapest = *std::min_element(cost_per_column.begin(), cost_per_column.end());
  double best = std::numeric_limits<double>::infinity(), speed = 0;
  for (std::size_t k = 1; k <= speeds.size(); ++k) {
    speed += speeds[k - 1];
    const double overdraw = static_cast<double>(k - 1) * 2 * w.margin * cheapest;
    best = std::min(best, (kTotalWork + overdraw) / speed);
  }
  return std::max(best + kOverhead + 2 * kLatency, w.ideal);
}

// A lower bound on the makespan of any split into rectangles with margins, as many per agent
// as it likes. A rectangle of area a that is not the whole frame renders at least
// min(2 m sqrt(a) + m^2, m min(W, H)) pixels it does not keep: one in a corner has margins on two
// sides (m (w + h) + m^2 >= 2 m sqrt(a) + m^2), one that touches three edges spans the frame and
// has a margin along all of it. That is concave in a, so splitting an agent's area into more
// rectangles only adds to it. Each agent i then needs (work_i + c_min overdraw(work_i / c_max)) /
// speed_i seconds, c_min and c_max the cheapest and dearest pixel; the bound is the least T at
// which the agents together can do all the work so (bisection), or one agent the whole frame.
double tile_bound(const World& w, double cheapest_pixel, double dearest_pixel) {
  if (w.margin == 0) return w.ideal;
  const double m = w.margin;
  const auto overdraw = [&](double area) {
    return area <= 0 ? 0.0 : std::min(2 * m * std::sqrt(area) + m * m, m * std::min(w.width, w.height));
  };
  const auto capacity = [&](double speed, double t) {  // the most work one agent does by t
    double lo = 0, hi = speed * t;
    for (int i = 0; i < 60; ++i) {
      const double mid = (lo + hi) / 2;
      (mid + cheapest_pixel * overdraw(mid / dearest_pixel) <= speed * t ? lo : hi) = mid;
    }
    return lo;
  };
  // The fastest agent alone on the whole frame (no cut, no margin) is the bisection's upper end.
  double lo = 0, hi = kTotalWork / *std::max_element(w.speeds.begin(), w.speeds.end());
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    double work = 0;
    for (double s : w.speeds) work += capacity(s, mid);
    (work >= kTotalWork ? hi : lo) = mid;
  }
  return std::max(hi + kOverhead + 2 * kLatency, w.ideal);
}

World make_world(const Scenario& sc, std::size_t scenario_index, unsigned seed, const std::vector<double>& measured,
                 int width, int height, int margin, int bands, bool exact_hints) {
  std::seed_seq seq{seed, static_cast<unsigned>(scenario_index), 0x626e72u};
  std::mt19937_64 rng(seq);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  World w;
  w.width = width;
  w.height = height;
  w.margin = margin;
  w.bands = bands > 0 ? bands : bnr::broker::choose_bands(width, height, margin, sc.speeds.size());
  const int columns = width;
  std::vector<double> cost(static_cast<std::size_t>(columns), 1.0);
  const int band = static_cast<int>(kHotBandShare * columns);
  const int band_x0 = static_cast<int>(unit(rng) * (columns - band));
  for (int x = 0; x < columns; ++x) {
    double& c = cost[static_cast<std::size_t>(x)];
    switch (sc.cost) {
      case CostKind::kUniform:
      case CostKind::kHotSpot: break;  // the spot is added below
      case CostKind::kLopsided: c = x < kLopsidedShare * columns ? kLopsidedFactor : 1.0; break;
      case CostKind::kHotBand: c = x >= band_x0 && x < band_x0 + band ? kHotBandFactor : 1.0; break;
      case CostKind::kMeasured: c = measured[static_cast<std::size_t>(x) * measured.size() / columns]; break;
    }
    c *= 1.0 + kColumnNoise * (2 * unit(rng) - 1);
  }
  double sum = 0;
  for (double c : cost) sum += c;
  if (sc.cost == CostKind::kHotSpot) {
    // A rectangle (a bright glass object, say) costs 20x: bands that never measured it are
    // told the same columns elsewhere cost as much, which they do not.
    const int sw = std::max(1, static_cast<int>(kHotSpotWidth * width));
    const int sh = std::max(1, static_cast<int>(kHotSpotHeight * height));
    const int sx = static_cast<int>(unit(rng) * (width - sw)), sy = static_cast<int>(unit(rng) * (height - sh));
    w.spot = Rect{sx, sy, sx + sw, sy + sh};
    // In units of `sum` (a column's cost over all its rows): per pixel, 19x the mean base.
    const double extra = (kHotBandFactor - 1) * (sum / columns) / height;
    const double spot_total = extra * sw * sh;
    w.spot_extra = extra * kTotalWork / (sum + spot_total);
    sum += spot_total;
  }
  w.prefix.assign(static_cast<std::size_t>(columns) + 1, 0.0);
  for (int x = 0; x < columns; ++x)
    w.prefix[static_cast<std::size_t>(x) + 1] = w.prefix[static_cast<std::size_t>(x)] + cost[static_cast<std::size_t>(x)] * kTotalWork / sum;
  w.speeds = sc.speeds;
  for (double s : w.speeds) w.hints.push_back(s * (1.0 + kProfileError * (2 * unit(rng) - 1)));
  if (exact_hints) w.hints = w.speeds;  // (drawn anyway: the rest of the world stays the same)
  if (sc.halving) {
    w.halving_agent = static_cast<std::size_t>(unit(rng) * static_cast<double>(w.speeds.size()));
    w.halve_at = (0.25 + 0.5 * unit(rng)) * (ideal_makespan(w) - kOverhead - 2 * kLatency);
  }
  w.ideal = ideal_makespan(w);
  for (double& c : cost) c *= kTotalWork / sum;
  w.bound = margin_bound(w, cost);
  const auto [low, high] = std::minmax_element(cost.begin(), cost.end());
  w.tile_bound = tile_bound(w, *low / height, *high / height + w.spot_extra);
  return w;
}

// How the simulated broker behaves where bnr-broker's choice is worth questioning.
struct BrokerModel {
  bool one_by_one = false;
  bool reassign_idle = false;
  bool retry = true;  // re-ask a refused idle agent at RegionScheduler::retry_after
  bool profile = false;  // ours gets a cost map of the frame as a prior (World::profile)
  bool stale_profile = false;  // ... of the frame's costs moved by a third of the width
  bool learned_profile = false;  // ours renders the frame twice, the second time from the first's map
};

struct Outcome {
  double makespan = 0;
  double spread = 0;
  // Ours only, for the diagnosis line.
  double regions = 0;
  double duplicates = 0;
  double duplicate_wins = 0;
  double wasted = 0;          // agent-seconds spent on copies that lost
  double busy_spread = 0;     // the spread if time on losing copies counted as work
  double moves = 0;           // queued regions moved to another agent (Assignment::revoke)
  double speed_error = 0;     // at the end: mean |learned share / true share - 1| of total speed
  double overdraw = 1.0;      // columns rendered for accepted regions, margins included / frame
  double cpu_seconds = 0;     // the scheduler's own CPU time, all calls
  double decisions = 0;       // calls into the scheduler
  double cpu_max = 0;         // the slowest single call
  std::vector<double> cost_per_column;  // ours: the cost map it learned
};

// The old tool: one strip per agent, widths proportional to the speed test's result.
Outcome run_static_strips(const World& w) {
  double hint_sum = 0;
  for (double h : w.hints) hint_sum += h;
  Outcome out;
  double first = std::numeric_limits<double>::infinity(), last = 0, acc = 0;
  int x0 = 0;
  for (std::size_t a = 0; a < w.speeds.size(); ++a) {
    acc += w.hints[a];
    const int x1 = a + 1 == w.speeds.size() ? w.width : static_cast<int>(std::lround(acc / hint_sum * w.width));
    const double end = w.finish_time(a, kLatency, w.rendered_work({x0, 0, x1, w.height}));
    first = std::min(first, end);
    last = std::max(last, end);
    x0 = x1;
  }
  out.makespan = last + kLatency;
  out.spread = last - first;
  return out;
}

// bnr-broker's job loop and the agents, as events on one timeline.
class DynamicRun {
 public:
  DynamicRun(const World& world, SchedulerConfig config, BrokerModel broker, bool trace,
             const std::vector<double>& learned = {})
      : w_(world), sched_(world.width, world.height, with_margin(config, world.margin)), broker_(broker), agents_(world.speeds.size()),
        rendering_(world.speeds.size()), trace_(trace) {
    if (config.sizing != SizingKind::kPredictedSeconds) return;
    if (!learned.empty()) {
      sched_.set_cost_prior(learned);
    } else if (broker.profile) {
      std::vector<double> map = world.profile();
      if (broker.stale_profile) std::rotate(map.begin(), map.begin() + static_cast<long>(map.size() / 3), map.end());
      sched_.set_cost_prior(map);
    }
  }

  Outcome run() {
    // Every agent's JobReady arrives at the same time.
    if (broker_.one_by_one) {
      for (AgentId a = 0; a < agents_.size(); ++a) push(kLatency, Kind::kReady, a, 0);
    } else {
      for (AgentId a = 0; a < agents_.size(); ++a) sched_.add_agent(a, w_.hints[a]);
      for (AgentId a = 0; a < agents_.size(); ++a) assign(a, kLatency);
    }
    while (!events_.empty() && !done_) {
      const Event e = events_.top();
      events_.pop();
      handle(e);
    }
    if (!done_) throw std::runtime_error("the simulation stalled before the frame was finished");
    return outcome();
  }

 private:
  enum class Kind { kReady, kRegionArrives, kCancelArrives, kRenderEnds, kResultArrives, kRetry };
  struct Event {
    double t = 0;
    std::uint64_t seq = 0;
    Kind kind = Kind::kReady;
    AgentId agent = 0;
    RegionId copy = 0;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  struct Record {
    AgentId agent = 0;
    Rect rect;
    bool duplicate = false;
    double predicted = 0;
    double start = -1, end = -1;
    bool accepted = false;
    double cancelled_at = -1;    // broker time the other copy won
  };
  struct SimAgent {
    std::deque<RegionId> queue;
    std::optional<RegionId> running;
  };

  static SchedulerConfig with_margin(SchedulerConfig c, int margin) {
    c.margin = margin;
    return c;
  }

  static double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  // Runs one call into the scheduler, counting the CPU time it takes.
  template <typename Call>
  auto timed(Call call) {
    const double before = thread_cpu_seconds();
    auto result = call();
    const double spent = thread_cpu_seconds() - before;
    cpu_seconds_ += spent;
    cpu_max_ = std::max(cpu_max_, spent);
    ++decisions_;
    return result;
  }

  static Clock::time_point at(double t) {
    // Offset from the epoch so no time the scheduler sees is its "never" value.
    return Clock::time_point{} + std::chrono::hours(1) + std::chrono::duration_cast<Clock::duration>(Seconds(t));
  }
  void push(double t, Kind kind, AgentId a, RegionId copy) { events_.push({t, seq_++, kind, a, copy}); }

  void handle(const Event& e) {
    switch (e.kind) {
      case Kind::kReady:
        sched_.add_agent(e.agent, w_.hints[e.agent]);
        assign(e.agent, e.t);
        break;
      case Kind::kRegionArrives:
        agents_[e.agent].queue.push_back(e.copy);
        start_next(e.agent, e.t);
        break;
      case Kind::kCancelArrives:
        std::erase(agents_[e.agent].queue, e.copy);  // a running render finishes anyway
        break;
      case Kind::kRenderEnds:
        agents_[e.agent].running.reset();
        push(e.t + kLatency, Kind::kResultArrives, e.agent, e.copy);
        start_next(e.agent, e.t);
        break;
      case Kind::kResultArrives: on_result(e.agent, e.copy, e.t); break;
      case Kind::kRetry:
        if (e.copy == retry_generation_[e.agent]) assign(e.agent, e.t);
        break;
    }
  }

  void start_next(AgentId a, double t) {
    SimAgent& agent = agents_[a];
    if (agent.running || agent.queue.empty()) return;
    const RegionId id = agent.queue.front();
    agent.queue.pop_front();
    agent.running = id;
    Record& r = records_.at(id);
    r.start = t;
    r.end = w_.finish_time(a, t, w_.rendered_work(r.rect));
    push(r.end, Kind::kRenderEnds, a, id);
  }

  void assign(AgentId a, double t) {
    ++retry_generation_[a];  // a retry planned earlier is superseded
    while (rendering_[a].size() < 1 + kPrefetch) {
      const auto next = timed([&] { return sched_.next_region(a, at(t)); });
      if (!next) {
        // Refused with nothing in flight: ask again when the scheduler says a copy may be worth
        // it by then (bnr-broker re-asks such agents on its poll timeout).
        if (broker_.retry && rendering_[a].empty())
          if (const auto when = timed([&] { return sched_.retry_after(a, at(t)); }))
            push(std::max(t, Seconds(*when - at(0)).count()) + 1e-6, Kind::kRetry, a, retry_generation_[a]);
        return;
      }
      if (next->revoke) {
        // The region moves here from an agent that had it queued: cancel it there.
        const auto [other, copy] = *next->revoke;
        ++moves_;
        rendering_[other].erase(copy);
        records_.at(copy).cancelled_at = t;
        push(t + kLatency, Kind::kCancelArrives, other, copy);
        if (trace_) std::printf("%9.3f  agent %zu: queued copy moves to agent %zu\n", t, other, a);
      }
      rendering_[a].insert(next->id);
      records_[next->id] = Record{a, next->rect, next->duplicate, next->predicted.count(), -1, -1, false, -1};
      if (trace_)
        std::printf("%9.3f  agent %zu <- %s[%5d,%5d) rows [%5d,%5d) %5d cols, work %7.2f, predicted %7.2f s, "
                    "actual ~%7.2f s\n",
                    t, a, next->duplicate ? "DUP " : "", next->rect.x0, next->rect.x1, next->rect.y0, next->rect.y1,
                    next->rect.width(), w_.work(next->rect.x0, next->rect.x1) * next->rect.height() / w_.height,
                    next->predicted.count(),
                    kOverhead + w_.rendered_work(next->rect) / w_.speed_at(a, t));
      push(t + kLatency, Kind::kRegionArrives, a, next->id);
      if (next->revoke) assign(next->revoke->first, t);
    }
  }

  void on_result(AgentId a, RegionId id, double t) {
    Record& r = records_.at(id);
    if (rendering_[a].erase(id) == 0) return;  // cancelled: the broker drops it
    const auto completion = timed([&] { return sched_.complete(id, a, at(t), Seconds(r.end - r.start)); });
    r.accepted = completion.accepted;
    if (trace_)
      std::printf("%9.3f  agent %zu -> [%5d,%5d) rows [%5d,%5d) in %7.2f s%s%s\n", t, a, r.rect.x0, r.rect.x1,
                  r.rect.y0, r.rect.y1, r.end - r.start,
                  r.accepted ? "" : " (not accepted)", completion.cancel.empty() ? "" : ", cancels the other copy");
    for (const auto& [other, copy] : completion.cancel) {
      rendering_[other].erase(copy);
      records_.at(copy).cancelled_at = t;
      push(t + kLatency, Kind::kCancelArrives, other, copy);
      assign(other, t);
    }
    assign(a, t);
    if (broker_.reassign_idle)
      for (AgentId other = 0; other < agents_.size(); ++other) assign(other, t);
    if (sched_.finished()) {
      done_ = true;
      makespan_ = t;
    }
  }

  [[nodiscard]] Outcome outcome() const {
    Outcome out;
    out.makespan = makespan_;
    out.moves = moves_;
    out.overdraw = sched_.overdraw();
    out.cpu_seconds = cpu_seconds_;
    out.decisions = decisions_;
    out.cpu_max = cpu_max_;
    out.cost_per_column = sched_.cost_per_column();
    // An agent's finish: the end of its last accepted render, its last useful work. A copy
    // that lost a duplicate race is not useful work: counting the time spent on it as "still
    // working" would let a scheme look balanced by keeping idle agents busy on losing copies.
    // An agent left idle because nothing was left finished at its last accepted render: that
    // idleness is what the spread measures. `busy` (diagnosis only) also counts lost copies up
    // to the moment the other copy won.
    std::vector<double> finish(agents_.size(), 0.0);
    std::vector<double> busy(agents_.size(), 0.0);
    for (const auto& [id, r] : records_) {
      if (r.start < 0) continue;
      if (r.accepted) finish[r.agent] = std::max(finish[r.agent], r.end);
      busy[r.agent] = std::max(busy[r.agent], finish[r.agent]);
      if (r.cancelled_at >= 0 && r.start < r.cancelled_at) {
        busy[r.agent] = std::max(busy[r.agent], std::min(r.end, r.cancelled_at));
        out.wasted += std::min(r.end, makespan_) - r.start;
      }
      if (r.accepted) ++out.regions;
      if (r.duplicate) ++out.duplicates;
      if (r.duplicate && r.accepted) ++out.duplicate_wins;
    }
    out.spread = *std::max_element(finish.begin(), finish.end()) - *std::min_element(finish.begin(), finish.end());
    out.busy_spread = *std::max_element(busy.begin(), busy.end()) - *std::min_element(busy.begin(), busy.end());
    double learned_sum = 0, true_sum = 0;
    for (AgentId a = 0; a < agents_.size(); ++a) {
      learned_sum += sched_.speed(a);
      true_sum += w_.speed_at(a, makespan_);
    }
    for (AgentId a = 0; a < agents_.size(); ++a)
      out.speed_error += std::abs(sched_.speed(a) / learned_sum / (w_.speed_at(a, makespan_) / true_sum) - 1);
    out.speed_error /= static_cast<double>(agents_.size());
    if (trace_) {
      std::printf("makespan %.3f s, ideal %.3f s, ratio %.4f, spread %.3f s (%.3f s counting lost copies)\n",
                  makespan_, w_.ideal, makespan_ / w_.ideal, out.spread, out.busy_spread);
      for (AgentId a = 0; a < agents_.size(); ++a)
        std::printf("  agent %zu: true speed %.3f (now %.3f), hint %.3f, learned %.3f, finished %.3f s\n", a,
                    w_.speeds[a], w_.speed_at(a, makespan_), w_.hints[a], sched_.speed(a), finish[a]);
    }
    return out;
  }

  const World& w_;
  RegionScheduler sched_;
  BrokerModel broker_;
  std::vector<SimAgent> agents_;
  std::vector<std::set<RegionId>> rendering_;  // the broker's view: copies sent, not yet back
  std::vector<std::uint64_t> retry_generation_ = std::vector<std::uint64_t>(w_.speeds.size(), 0);
  std::map<RegionId, Record> records_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::uint64_t seq_ = 0;
  bool done_ = false;
  bool trace_ = false;
  double moves_ = 0;
  double makespan_ = 0;
  double cpu_seconds_ = 0;
  double cpu_max_ = 0;
  double decisions_ = 0;
};

Outcome run_scheme(Scheme scheme, const World& w, BrokerModel broker, bool trace = false) {
  SchedulerConfig config;
  switch (scheme) {
    case Scheme::kStaticStrips: return run_static_strips(w);
    case Scheme::kFixedTiles: config.region_width = kFixedTileWidth; break;
    case Scheme::kFactoringPixels: config.sizing = SizingKind::kFactoringPixels; break;
    case Scheme::kOurs:
      config.sizing = SizingKind::kPredictedSeconds;
      config.bands = w.bands;
      break;
  }
  if (scheme == Scheme::kOurs && broker.learned_profile) {
    // As bnr-broker renders a scene it rendered before: from the map the first render learned.
    const Outcome first = DynamicRun(w, config, broker, false).run();
    return DynamicRun(w, config, broker, trace, bnr::broker::coarsened(first.cost_per_column, bnr::broker::kStoredMapColumns)).run();
  }
  return DynamicRun(w, config, broker, trace).run();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(i, 1, v.size()) - 1];
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// n agents from 0.25 to 4, evenly spaced on a log scale (eight: each 1.49x the previous).
std::vector<double> spread_speeds(int n) {
  if (n == 1) return {1.0};
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(0.25 * std::pow(16.0, i / static_cast<double>(n - 1)));
  return out;
}

// `speeds` given (--speeds): that set; else `agents` spread, or with 0 the two default sets.
std::vector<Scenario> scenarios(int agents, const std::vector<double>& speeds) {
  std::vector<std::pair<std::string, std::vector<double>>> sets;
  if (!speeds.empty()) {
    std::string name;
    for (double s : speeds) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%g", name.empty() ? "" : ",", s);
      name += buf;
    }
    sets.emplace_back(name, speeds);
  } else if (agents > 0) {
    sets.emplace_back(std::to_string(agents) + " x 0.25..4", spread_speeds(agents));
  } else {
    sets = {{"1,1,2,4", {1, 1, 2, 4}}, {"8 x 0.25..4", spread_speeds(8)}};
  }
  std::vector<Scenario> out;
  for (const auto& [name, speeds] : sets)
    for (CostKind cost : {CostKind::kUniform, CostKind::kLopsided, CostKind::kHotBand, CostKind::kHotSpot, CostKind::kMeasured})
      for (bool halving : {false, true}) out.push_back({name, speeds, cost, halving});
  return out;
}

struct Options {
  int seeds = 200;
  int width = kDefaultWidth;
  int height = 0;  // 0: width x 9 / 16
  int margin = 0;
  int bands = 0;   // ours; 0: choose_bands, as bnr-broker
  int agents = 0;  // 0: the default sets
  std::vector<double> speeds;  // --speeds: this set instead
  std::string cost_map = BNR_SOURCE_DIR "/bench/sim/demo_cost_map.txt";
  std::optional<std::pair<std::size_t, unsigned>> trace;
  bool exact_hints = false;
  BrokerModel broker;
};

// printf into a string: scenarios run on several threads and print in order at the end.
template <typename... Args>
void appendf(std::string& out, const char* format, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, format, args...);
  out += buf;
}

struct ScenarioReport {
  std::string text;
  std::string ours_missed;  // empty when ours met every target
  double ours_mean = 0;      // makespan / ideal
  double ours_overdraw = 1;
  double cpu_per_decision = 0;  // seconds
  double bound = 1;          // best any column split could do, / ideal
  double tile_bound = 1;     // best any split into rectangles could do, / ideal
};

ScenarioReport simulate(const Scenario& sc, std::size_t index, const Options& options,
                        const std::vector<double>& measured) {
  ScenarioReport report;
  std::string& out = report.text;
  std::vector<World> worlds;
  for (int seed = 0; seed < options.seeds; ++seed)
    worlds.push_back(make_world(sc, index, static_cast<unsigned>(seed), measured, options.width, options.height, options.margin, options.bands, options.exact_hints));
  std::vector<double> ideals, bounds, tile_bounds;
  for (const World& w : worlds) {
    ideals.push_back(w.ideal);
    bounds.push_back(w.bound / w.ideal);
    tile_bounds.push_back(w.tile_bound / w.ideal);
  }
  appendf(out,
          "\n[%zu] %s   (ideal %.1f s mean; with these margins no column split can beat %.3f x ideal, no split into "
          "rectangles %.3f; ours in %d band%s)\n",
          index + 1, sc.name().c_str(), mean(ideals), mean(bounds), mean(tile_bounds), worlds.front().bands,
          worlds.front().bands == 1 ? "" : "s");
  report.tile_bound = mean(tile_bounds);
  appendf(out, "  %-18s %7s %7s %10s %9s %9s  %s\n", "scheme", "mean", "p95", "spread s", "p95 spr", "limit s",
          "target met?");
  for (Scheme scheme : kSchemes) {
    std::vector<double> ratios, spreads, makespans;
    Outcome sum;
    sum.overdraw = 0;
    for (const World& w : worlds) {
      const Outcome o = run_scheme(scheme, w, options.broker);
      ratios.push_back(o.makespan / w.ideal);
      spreads.push_back(o.spread);
      makespans.push_back(o.makespan);
      sum.regions += o.regions;
      sum.duplicates += o.duplicates;
      sum.duplicate_wins += o.duplicate_wins;
      sum.wasted += o.wasted;
      sum.speed_error += o.speed_error;
      sum.busy_spread += o.busy_spread;
      sum.moves += o.moves;
      sum.overdraw += o.overdraw;
      sum.cpu_seconds += o.cpu_seconds;
      sum.decisions += o.decisions;
      sum.cpu_max = std::max(sum.cpu_max, o.cpu_max);
    }
    const double m = mean(ratios), p95 = percentile(ratios, 0.95), spread = mean(spreads);
    const double limit = std::max(kSpreadShare * mean(makespans), kSpreadFloor);
    std::string why;
    if (m > kTargetMean) why += " mean";
    if (p95 > kTargetP95) why += " p95";
    if (spread > limit) why += " spread";
    appendf(out, "  %-18s %7.3f %7.3f %10.2f %9.2f %9.2f  %s\n", scheme_name(scheme), m, p95, spread,
            percentile(spreads, 0.95), limit, why.empty() ? "yes" : ("no:" + why).c_str());
    if (scheme == Scheme::kOurs) {
      const double n = static_cast<double>(worlds.size());
      appendf(out,
              "    ours per run: %.1f regions, %.1f moved, %.1f duplicates (%.1f won), %.1f agent-s on lost "
              "copies (spread %.2f s if they counted), learned speeds %.1f%% off\n",
              sum.regions / n, sum.moves / n, sum.duplicates / n, sum.duplicate_wins / n, sum.wasted / n,
              sum.busy_spread / n, 100 * sum.speed_error / n);
      appendf(out,
              "    ours: rendered %.3fx the frame's pixels; scheduler CPU %.1f us per decision (mean of %.0f calls "
              "a run), %.2f ms the slowest\n",
              sum.overdraw / n, 1e6 * sum.cpu_seconds / std::max(sum.decisions, 1.0), sum.decisions / n,
              1e3 * sum.cpu_max);
      report.ours_missed = why;
      report.ours_mean = m;
      report.ours_overdraw = sum.overdraw / n;
      report.cpu_per_decision = sum.cpu_seconds / std::max(sum.decisions, 1.0);
      report.bound = mean(bounds);
    }
  }
  return report;
}

int run(const Options& options) {
  const std::vector<double> measured = load_cost_map(options.cost_map);
  const std::vector<Scenario> all = scenarios(options.agents, options.speeds);
  if (options.trace) {
    const auto [s, seed] = *options.trace;
    if (s < 1 || s > all.size()) throw std::invalid_argument("--trace: no scenario " + std::to_string(s));
    std::printf("trace: scenario %zu (%s), seed %u, ours\n", s, all[s - 1].name().c_str(), seed);
    (void)run_scheme(Scheme::kOurs, make_world(all[s - 1], s - 1, seed, measured, options.width, options.height, options.margin, options.bands, options.exact_hints),
                     options.broker, true);
    return 0;
  }
  const auto started = std::chrono::steady_clock::now();
  std::printf("bnr-bench-scheduler: %dx%d, margin %d, %.0f s of work on a speed-1 agent, %.2f s overhead per "
              "region, %.0f ms latency each way, prefetch %d, speed hints off by up to %.0f%%, %d seeds per scenario\n",
              options.width, options.height, options.margin, kTotalWork, kOverhead, kLatency * 1000, kPrefetch,
              options.exact_hints ? 0.0 : kProfileError * 100, options.seeds);
  if (options.broker.profile)
    std::printf("ours starts from a cost map of the frame (cost per column, 128 strips%s)\n",
                options.broker.stale_profile ? ", of an older version: costs a third of the width off" : "");
  if (options.broker.learned_profile)
    std::printf("ours renders each frame twice; timed: the second render, from the cost map the first learned\n");
  std::printf("broker: %s; after a result, regions go to %s; a refused idle agent is %s\n",
              options.broker.one_by_one ? "agents added one by one, each served at once (as bnr-broker)"
                                        : "all agents known before the first hand-out",
              options.broker.reassign_idle ? "every agent below its quota"
                                           : "its sender and the agents it cancels (as bnr-broker)",
              options.broker.retry ? "asked again at retry_after" : "not asked again");
  std::printf("ideal = total work / sum of speeds (halving included, margins excluded) + one region's overhead + "
              "a round trip\n");
  std::printf("targets for ours: mean <= %.2f, p95 <= %.2f, mean spread <= max(%.0f%% of mean makespan, %.0f s)\n",
              kTargetMean, kTargetP95, kSpreadShare * 100, kSpreadFloor);
  std::printf("spread = last - first agent to finish its last accepted region (time on copies that lost "
              "is not work)\n");
  std::fflush(stdout);

  // Scenarios are independent: one thread each, as many at a time as there are cores.
  std::vector<ScenarioReport> reports(all.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(),
                                                           static_cast<unsigned>(all.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t s = next++; s < all.size(); s = next++) {
        try {
          reports[s] = simulate(all[s], s, options, measured);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(failure_mutex);
          failure = std::current_exception();
        }
      }
    });
  for (std::thread& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);

  std::string missed;
  for (std::size_t s = 0; s < all.size(); ++s) {
    std::fputs(reports[s].text.c_str(), stdout);
    if (!reports[s].ours_missed.empty()) missed += " [" + std::to_string(s + 1) + "]" + reports[s].ours_missed;
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("\nours met all targets: %s%s\n", missed.empty() ? "yes" : "no; missed:", missed.c_str());
  double worst_mean = 0, worst_overdraw = 0, worst_cpu = 0, worst_bound = 0, worst_tile_bound = 0;
  for (const ScenarioReport& r : reports) {
    worst_mean = std::max(worst_mean, r.ours_mean);
    worst_overdraw = std::max(worst_overdraw, r.ours_overdraw);
    worst_cpu = std::max(worst_cpu, r.cpu_per_decision);
    worst_bound = std::max(worst_bound, r.bound);
    worst_tile_bound = std::max(worst_tile_bound, r.tile_bound);
  }
  std::printf("summary: width %d, margin %d, agents %s: ours mean makespan/ideal up to %.3f (column bound up to %.3f, "
              "rectangle bound up to %.3f), overdraw up to %.3fx, scheduler CPU up to %.1f us per decision\n",
              options.width, options.margin, options.agents > 0 ? std::to_string(options.agents).c_str() : "default",
              worst_mean, worst_bound, worst_tile_bound, worst_overdraw, 1e6 * worst_cpu);
  std::printf("(%zu simulations in %.1f s on %u threads)\n",
              all.size() * std::size(kSchemes) * static_cast<std::size_t>(options.seeds), elapsed, threads);
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--seeds") {
      o.seeds = std::stoi(value());
      if (o.seeds < 1) throw std::invalid_argument("--seeds wants a positive number");
    } else if (a == "--width") {
      o.width = std::stoi(value());
      if (o.width < 1 || o.width > 65536) throw std::invalid_argument("--width wants 1 to 65536 columns");
    } else if (a == "--height") {
      o.height = std::stoi(value());
      if (o.height < 1 || o.height > 65536) throw std::invalid_argument("--height wants 1 to 65536 rows");
    } else if (a == "--bands") {
      o.bands = std::stoi(value());
      if (o.bands < 1 || o.bands > 1024) throw std::invalid_argument("--bands wants 1 to 1024");
    } else if (a == "--margin") {
      o.margin = std::stoi(value());
      if (o.margin < 0 || o.margin > 64) throw std::invalid_argument("--margin wants 0 to 64 columns");
    } else if (a == "--speeds") {
      const std::string list = value();
      for (const std::string_view piece : bnr::tools::split(list, ',')) {
        const std::string text(piece);
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(v > 0 && v <= 1000))
          throw std::invalid_argument("--speeds wants numbers above 0 up to 1000, e.g. 1,1,2; got '" + list + "'");
        o.speeds.push_back(v);
      }
      if (o.speeds.size() > static_cast<std::size_t>(kMaxAgents)) throw std::invalid_argument("--speeds: at most 1024 agents");
    } else if (a == "--agents") {
      o.agents = std::stoi(value());
      if (o.agents < 1 || o.agents > kMaxAgents) throw std::invalid_argument("--agents wants 1 to 1024");
    } else if (a == "--one-by-one") {
      o.broker.one_by_one = true;
    } else if (a == "--reassign-idle") {
      o.broker.reassign_idle = true;
    } else if (a == "--no-retry") {
      o.broker.retry = false;
    } else if (a == "--exact-hints") {
      o.exact_hints = true;
    } else if (a == "--profile") {
      o.broker.profile = true;
    } else if (a == "--stale-profile") {
      o.broker.stale_profile = true;
    } else if (a == "--learned-profile") {
      o.broker.learned_profile = true;
    } else if (a == "--cost-map") {
      o.cost_map = value();
    } else if (a == "--trace") {
      const std::string v = value();
      const auto colon = v.find(':');
      if (colon == std::string::npos) throw std::invalid_argument("--trace wants S:SEED");
      o.trace = {std::stoul(v.substr(0, colon)), static_cast<unsigned>(std::stoul(v.substr(colon + 1)))};
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.height == 0) o.height = std::max(1, o.width * 9 / 16);
  if (o.broker.stale_profile && !o.broker.profile) throw std::invalid_argument("--stale-profile needs --profile");
  if (o.broker.learned_profile && o.broker.profile)
    throw std::invalid_argument("--learned-profile and --profile: choose where the map comes from");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bnr-bench-scheduler: %s\n%s", e.what(), kUsage);
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bnr-bench-scheduler: %s\n", e.what());
    return 1;
  }
}
