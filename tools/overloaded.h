// std::visit with one lambda per alternative: a variant alternative that no lambda takes is a
// compile error, so a new message or action kind cannot go unhandled.
#pragma once

namespace bnr::tools {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace bnr::tools
