// An overload set of lambdas for std::visit over protocol::Message: every kind needs a case, so
// a new kind that a receiver does not handle is a compile error, not a silent drop.
#pragma once

#include <concepts>

namespace bnr::protocol {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// For one case that covers several kinds by name: `requires OneOf<std::decay_t<decltype(m)>, A, B>`.
template <class T, class... Kinds>
concept OneOf = (std::same_as<T, Kinds> || ...);

}  // namespace bnr::protocol
