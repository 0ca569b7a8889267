// Where the first, blind regions go: small probes spread over the frame so the cost of every
// part of it is roughly known early. Pure.
#pragma once

#include <deque>
#include <utility>

namespace bnr::broker {

// How many probes a frame gets: `wanted`, but fewer where margins would make them costly (each
// probe renders 2 x margin columns it does not keep; all of them together stay near 1% of the
// frame), and never fewer than two.
[[nodiscard]] int probe_count(int width, int margin, int wanted);

// `count` disjoint probes [x0, x1) of `probe_width` columns centred at (i + 1/2) / count of the
// frame, in an order that spreads the first ones far apart (0, 1/2, 1/4, 3/4, ...). Probes that
// would overlap (tiny frames) are dropped. With `band_width` (a BandLayout's bands) no probe
// straddles a band's end: it moves to the side its centre is on.
[[nodiscard]] std::deque<std::pair<int, int>> plan_probes(int width, int count, int probe_width, int band_width = 0);

}  // namespace bnr::broker
