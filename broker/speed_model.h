// How fast each agent renders, learned online from finished regions. Pure.
//
// Speed is reference seconds of work per second. Regions side by side cost about the same per
// column, so when two agents rendered them, their times per rendered column compare the two
// speeds. A robust least-squares fit of all such comparisons, leaning lightly on the hints,
// gives every speed at once; an agent keeps its hint until two comparisons agree (one may
// straddle a cost edge). An agent whose newest region disagrees with its speed is believed at
// once if it got slower (predictions use the lower speed, down to half), and starts a new speed
// regime when the next region agrees or both neighbours of one say so (at once only down to
// half: a steeper drop between two neighbours is more likely a cost edge inside the region).
// With a cost map of the frame given up front (a speed test's), neighbours compare per unit of
// the work the profile expects of them instead: a cost edge between or inside them then
// says nothing wrong of the agents.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

namespace bnr::broker {

using AgentId = std::size_t;

class SpeedModel {
 public:
  // Regions whose columns are at most `reach` apart, in one band of `band_width` columns (0:
  // one band), count as side by side.
  explicit SpeedModel(int reach, int band_width = 0) : reach_(reach), band_width_(band_width) {}

  // `hint`: from a saved profile, 0 when unknown (then the median of the known agents, or 1).
  void add_agent(AgentId agent, double hint);
  void remove_agent(AgentId agent) { agents_.erase(agent); }
  [[nodiscard]] bool has(AgentId agent) const { return agents_.count(agent) != 0; }
  [[nodiscard]] std::size_t agents() const { return agents_.size(); }

  // The agent's speed in its current regime (0 for an unknown agent).
  [[nodiscard]] double speed(AgentId agent) const;
  // The speed predictions use: an unconfirmed slowdown is believed at once, a speed-up not.
  [[nodiscard]] double predicting(AgentId agent) const;
  // The speed rests on measurements, not only on a hint.
  [[nodiscard]] bool observed(AgentId agent) const;
  [[nodiscard]] double total_speed() const;   // of all agents; 1 when there are none
  [[nodiscard]] double mean_speed() const;
  [[nodiscard]] double fastest() const;       // the highest predicting speed; 0 with no agents

  // The agent rendered the region with columns [x0, x1) in `seconds`, `rendered_columns`
  // columns with its margins; `predicted_work` is what it was expected to cost (< 0: unknown);
  // `expected` what a profile expects of its rendered columns, in the profile's units (0: no
  // profile; give it for every region or for none).
  // False (nothing learned) for an unknown agent or a time that is not positive.
  bool record(AgentId agent, int x0, int x1, int rendered_columns, double seconds, double predicted_work,
              double expected = 0);

  struct Sample {
    int x0 = 0, x1 = 0;
    double per_column = 0;  // reference seconds per rendered column
  };
  // From now on compare per rendered column: the `expected` given so far no longer counts (the
  // map it came from proved wrong), nor do unconfirmed slowdowns seen with it; speed regimes
  // split meanwhile stay.
  void compare_by_columns();

  // Every measurement's work per column at its regime's speed as now known.
  [[nodiscard]] std::vector<Sample> samples() const;

 private:
  struct Agent {
    double speed = 1.0;       // this regime's
    bool observed = false;
    int regime = 0;
    double pending = 0;       // log ratio of an unconfirmed far-off observation (0 = none)
    std::size_t pending_measurement = 0;
    double caution = 1.0;     // < 1 while an observed slowdown waits to be confirmed
  };
  struct Regime {
    double prior = 0;         // log speed before any measurement (the hint)
    double log_speed = 0;     // solved
    double linked = 0;        // total weight of the comparisons it takes part in
    double fitted = 0;        // the fit's last answer, trusted or not: the next fit starts there
  };
  struct Measurement {
    int x0 = 0, x1 = 0;
    int columns = 1;          // rendered, margins included
    double size = 1;          // what compares: rendered columns, or the work a profile expects
    AgentId agent = 0;
    int regime = 0;
    double seconds = 0;
    [[nodiscard]] double log_time_per_size() const;
  };
  struct Comparison {
    std::size_t left = 0, right = 0;  // measurements side by side, of different regimes
    double weight = 1.0;
  };

  [[nodiscard]] std::vector<Comparison> comparisons() const;
  [[nodiscard]] int band_of(int column) const { return band_width_ > 0 ? column / band_width_ : 0; }
  void solve();
  void check_regime(AgentId agent, std::size_t measurement, double predicted_work);
  int new_regime(double log_speed);

  int reach_;
  int band_width_;
  std::map<AgentId, Agent> agents_;
  std::map<int, Regime> regimes_;
  std::vector<Measurement> measured_;
  std::map<int, std::size_t> measured_at_;  // first column -> index into measured_
};

}  // namespace bnr::broker
