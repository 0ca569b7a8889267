#include "listing_task.h"

#include <chrono>
#include <exception>
#include <utility>

namespace bnr::broker {

ListingTask::ListingTask(std::function<SceneManifest()> list, std::function<std::string()> this_blender,
                         std::function<void(const SceneManifest&)> remember)
    : list_(std::move(list)), remember_(std::move(remember)), result_(promise_.get_future().share()) {
  if (!this_blender) return;
  version_ = std::async(std::launch::async, [ask = std::move(this_blender)]() -> std::string {
               try {
                 return ask();
               } catch (const std::exception&) {
                 return "";  // no usable Blender: the listing, if it runs, says why
               }
             }).share();
}

ListingTask::~ListingTask() {
  if (listing_.valid()) listing_.wait();
  if (version_.valid()) version_.wait();
}

void ListingTask::start() {
  if (decided_) return;
  decided_ = true;
  listing_ = std::async(std::launch::async, [this] {
    try {
      promise_.set_value(list_());
    } catch (...) {
      promise_.set_exception(std::current_exception());
    }
  });
}

bool ListingTask::settle(SceneManifest truth, bool remember) {
  if (decided_) return false;
  decided_ = true;
  if (remember && remember_) {
    try {
      remember_(truth);
    } catch (const std::exception&) {
      // A cache is only ever a shortcut.
    }
  }
  promise_.set_value(std::move(truth));
  return true;
}

std::optional<std::string> ListingTask::this_blender() const {
  if (!version_.valid()) return "";
  if (version_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return std::nullopt;
  return version_.get();
}

}  // namespace bnr::broker
