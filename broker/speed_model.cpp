#include "speed_model.h"

#include <algorithm>
#include <cmath>

namespace bnr::broker {
namespace {
constexpr double kOff = 1.25;    // an observed speed this far from its regime's is "off"
constexpr double kAgree = 1.3;   // neighbours within this ratio: no cost edge between them
// A regime's speed is taken from comparisons once they weigh this much (two agreeing ones);
// before, one comparison across a cost edge could be all there is, so the prior stands.
constexpr double kTrusted = 1.5;
// An unconfirmed slowdown is believed up to this factor: more looks like a cost edge (a machine
// that halves its speed is plausible, one that drops to a twelfth far less).
constexpr double kLeastCaution = 0.5;
constexpr double kPriorWeight = 0.05;    // one comparison outweighs a prior twenty times
constexpr double kResidualScale = 0.15;  // log-speed disagreement at which a comparison counts half

// The weighted least-squares system of the fit: prior weight on the diagonal plus, for each
// comparison p of nodes (i, j), w_p (e_i - e_j)(e_i - e_j)^T. Sparse: a chain of neighbours.
struct FitSystem {
  std::size_t n = 0;
  std::vector<std::pair<std::size_t, std::size_t>> nodes;
  std::vector<double> weights;

  [[nodiscard]] std::vector<double> times(const std::vector<double>& v) const {
    std::vector<double> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = kPriorWeight * v[i];
    for (std::size_t p = 0; p < nodes.size(); ++p) {
      const auto [i, j] = nodes[p];
      const double d = weights[p] * (v[i] - v[j]);
      out[i] += d;
      out[j] -= d;
    }
    return out;
  }
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Conjugate gradients from `y`: the matrix is symmetric positive definite (the priors see to
// it) and has a few entries per row, so this costs O(iterations x comparisons), where a dense
// elimination would cost O(regimes^3) — too slow with hundreds of agents.
void solve_in_place(const FitSystem& a, const std::vector<double>& b, std::vector<double>& y) {
  std::vector<double> r = a.times(y);
  for (std::size_t i = 0; i < a.n; ++i) r[i] = b[i] - r[i];
  std::vector<double> p = r;
  double rr = dot(r, r);
  // A residual of 1e-8 of the right-hand side: the system's condition (the priors' weight against
  // a few comparisons per regime) keeps log speeds within about 1e-5 of the exact fit.
  const double tolerance = 1e-16 * std::max(dot(b, b), 1e-30);
  for (std::size_t iteration = 0; iteration < 4 * a.n + 16 && rr > tolerance; ++iteration) {
    const std::vector<double> ap = a.times(p);
    const double alpha = rr / dot(p, ap);
    for (std::size_t i = 0; i < a.n; ++i) {
      y[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    const double next = dot(r, r);
    for (std::size_t i = 0; i < a.n; ++i) p[i] = r[i] + (next / rr) * p[i];
    rr = next;
  }
}
}  // namespace

double SpeedModel::Measurement::log_time_per_size() const { return std::log(seconds / size); }

void SpeedModel::add_agent(AgentId agent, double hint) {
  if (agents_.count(agent) != 0) return;
  Agent a;
  if (hint > 0) {
    a.speed = hint;
  } else if (!agents_.empty()) {
    std::vector<double> speeds;
    for (const auto& [id, other] : agents_) speeds.push_back(other.speed);
    std::nth_element(speeds.begin(), speeds.begin() + static_cast<long>(speeds.size() / 2), speeds.end());
    a.speed = speeds[speeds.size() / 2];
  }
  a.regime = new_regime(std::log(std::max(a.speed, 1e-9)));
  agents_[agent] = a;
}

double SpeedModel::speed(AgentId agent) const {
  const auto it = agents_.find(agent);
  return it == agents_.end() ? 0.0 : it->second.speed;
}

double SpeedModel::predicting(AgentId agent) const {
  const auto it = agents_.find(agent);
  return it == agents_.end() ? 0.0 : it->second.speed * it->second.caution;
}

bool SpeedModel::observed(AgentId agent) const {
  const auto it = agents_.find(agent);
  return it != agents_.end() && it->second.observed;
}

double SpeedModel::total_speed() const {
  double s = 0;
  for (const auto& [id, a] : agents_) s += a.speed;
  return s > 0 ? s : 1.0;
}

double SpeedModel::mean_speed() const {
  return agents_.empty() ? 1.0 : total_speed() / static_cast<double>(agents_.size());
}

double SpeedModel::fastest() const {
  double best = 0;
  for (const auto& [id, a] : agents_) best = std::max(best, predicting(id));
  return best;
}

int SpeedModel::new_regime(double log_speed) {
  const int id = regimes_.empty() ? 1 : regimes_.rbegin()->first + 1;
  regimes_[id] = Regime{log_speed, log_speed, 0.0, log_speed};
  return id;
}

std::vector<SpeedModel::Comparison> SpeedModel::comparisons() const {
  // Cost clusters in space: two regions side by side (or `reach` apart) by different agents,
  // or by one agent at two speeds, cost about the same per column, so their times per column
  // compare the two speeds.
  std::vector<Comparison> out;
  const Measurement* prev = nullptr;
  std::size_t prev_index = 0;
  for (const auto& [x0, index] : measured_at_) {
    const Measurement& m = measured_[index];
    // Within one band only: a band's last columns and the next band's first are at the frame's
    // two sides, and may cost anything.
    if (prev != nullptr && m.x0 - prev->x1 <= reach_ && m.regime != prev->regime && band_of(m.x0) == band_of(prev->x0))
      out.push_back({prev_index, index, 1.0});
    prev = &m;
    prev_index = index;
  }
  return out;
}

void SpeedModel::solve() {
  // Least squares in log speed: for regions a (left) and b (right) side by side,
  // log s_a - log s_b = log(t_b / w_b) - log(t_a / w_a); each regime also leans lightly on its
  // prior (the hint, or the speed it started at), which fixes the scale and holds regimes
  // nothing compares. A comparison across a cost edge (a hot band starts between them) or with
  // a region that straddles a change of speed disagrees with the rest: iteratively reweighted
  // (Cauchy), such outliers fade out.
  std::vector<Comparison> pairs = comparisons();
  std::map<int, std::size_t> index;
  std::vector<int> ids;
  for (const auto& [id, r] : regimes_) {
    index[id] = ids.size();
    ids.push_back(id);
  }
  FitSystem system;
  system.n = ids.size();
  std::vector<double> diff(pairs.size());
  for (const Comparison& c : pairs) {
    const Measurement& a = measured_[c.left];
    const Measurement& b = measured_[c.right];
    diff[system.nodes.size()] = b.log_time_per_size() - a.log_time_per_size();
    system.nodes.emplace_back(index.at(a.regime), index.at(b.regime));
  }
  // One more measurement moves the answer little: start from the last one.
  std::vector<double> y(system.n);
  for (std::size_t i = 0; i < system.n; ++i) y[i] = regimes_.at(ids[i]).fitted;
  std::vector<double> priors(system.n);
  for (std::size_t i = 0; i < system.n; ++i) priors[i] = regimes_.at(ids[i]).prior;
  for (int iteration = 0; iteration < 6; ++iteration) {
    system.weights.clear();
    for (const Comparison& c : pairs) system.weights.push_back(c.weight);
    std::vector<double> rhs(system.n);
    for (std::size_t i = 0; i < system.n; ++i) rhs[i] = kPriorWeight * priors[i];
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const auto [i, j] = system.nodes[p];
      rhs[i] += pairs[p].weight * diff[p];
      rhs[j] -= pairs[p].weight * diff[p];
    }
    solve_in_place(system, rhs, y);
    for (std::size_t p = 0; p < pairs.size(); ++p) {
      const double r = (y[system.nodes[p].first] - y[system.nodes[p].second] - diff[p]) / kResidualScale;
      pairs[p].weight = 1.0 / (1.0 + r * r);
    }
  }
  for (auto& [id, r] : regimes_) r.linked = 0;
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    regimes_.at(ids[system.nodes[p].first]).linked += pairs[p].weight;
    regimes_.at(ids[system.nodes[p].second]).linked += pairs[p].weight;
  }
  for (std::size_t i = 0; i < system.n; ++i) {
    Regime& r = regimes_.at(ids[i]);
    r.fitted = y[i];
    r.log_speed = r.linked >= kTrusted ? y[i] : r.prior;
  }
  for (auto& [id, agent] : agents_) {
    const Regime& r = regimes_.at(agent.regime);
    agent.speed = std::exp(r.log_speed);
    agent.observed = r.linked >= kTrusted;
  }
}

void SpeedModel::compare_by_columns() {
  for (Measurement& m : measured_) m.size = m.columns;
  // Slowdowns seen against the old units are forgotten; regimes already split stay split.
  for (auto& [id, agent] : agents_) {
    agent.pending = 0;
    agent.caution = 1.0;
  }
  solve();
}

std::vector<SpeedModel::Sample> SpeedModel::samples() const {
  std::vector<Sample> out;
  out.reserve(measured_.size());
  for (const Measurement& m : measured_)
    out.push_back({m.x0, m.x1, m.seconds * std::exp(regimes_.at(m.regime).log_speed) / std::max(m.columns, 1)});
  return out;
}

void SpeedModel::check_regime(AgentId agent_id, std::size_t index, double predicted_work) {
  // What the neighbours of the newest region say about its agent's speed, against what the
  // agent's regime says. Both sides agreeing is a strong observation, one side a weak one, two
  // that disagree (a cost edge) none.
  Agent& agent = agents_.at(agent_id);
  const Measurement& m = measured_[index];
  std::vector<double> implied;
  for (const Comparison& c : comparisons()) {
    if (c.left != index && c.right != index) continue;
    const Measurement& a = measured_[c.left];
    const Measurement& b = measured_[c.right];
    const double d = b.log_time_per_size() - a.log_time_per_size();
    implied.push_back(c.left == index ? regimes_.at(b.regime).log_speed + d : regimes_.at(a.regime).log_speed - d);
  }
  if (implied.empty() && agent.caution < 1 && predicted_work > 0 && predicted_work / m.seconds >= agent.speed / kOff) {
    // Nothing to compare with, but it took about what it would have at the agent's usual
    // speed: the slowdown seen before was a cost edge, not the machine.
    agent.pending = 0;
    agent.caution = 1.0;
  }
  if (implied.empty() || !agent.observed) return;
  if (implied.size() == 2 && std::abs(implied[0] - implied[1]) > std::log(kAgree)) return;
  const double q = (implied.front() + implied.back()) / 2 - regimes_.at(m.regime).log_speed;
  const bool strong = implied.size() == 2;
  if (std::abs(q) <= std::log(kOff)) {
    agent.pending = 0;
    agent.caution = 1.0;
    return;
  }
  // Far off: the agent's speed changed (another program started, or stopped), or the cost
  // changes inside the region. Twice in a row the same way is the machine: a new regime from
  // the first of the two. A slowdown both neighbours agree on is believed at once, down to
  // kLeastCaution: a region ten times slower than both its neighbours most likely holds a hot
  // band (in the simulator, an agent at 2.7 was believed at 0.27 so). Anything else makes
  // predictions cautious until the next region confirms or refutes it.
  const bool confirmed =
      agent.pending != 0 && (agent.pending < 0) == (q < 0) && std::abs(agent.pending - q) <= std::log(1.6);
  if (confirmed || (strong && q < 0 && q >= std::log(kLeastCaution))) {
    const std::size_t first = confirmed ? agent.pending_measurement : index;
    agent.regime = new_regime(regimes_.at(m.regime).log_speed + q);
    for (std::size_t i = first; i < measured_.size(); ++i)
      if (measured_[i].agent == agent_id) measured_[i].regime = agent.regime;
    agent.pending = 0;
    agent.caution = 1.0;
    solve();
    return;
  }
  agent.pending = q;
  agent.pending_measurement = index;
  agent.caution = std::clamp(std::exp(q), kLeastCaution, 1.0);
}

bool SpeedModel::record(AgentId agent, int x0, int x1, int rendered_columns, double seconds, double predicted_work,
                        double expected) {
  if (seconds <= 0 || !std::isfinite(seconds) || agents_.count(agent) == 0) return false;
  const std::size_t index = measured_.size();
  const int columns = std::max(rendered_columns, 1);
  const double size = expected > 0 && std::isfinite(expected) ? expected : columns;
  measured_.push_back({x0, x1, columns, size, agent, agents_.at(agent).regime, seconds});
  measured_at_[x0] = index;
  solve();
  check_regime(agent, index, predicted_work);
  return true;
}

}  // namespace bnr::broker
