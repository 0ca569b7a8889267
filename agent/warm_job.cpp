#include "warm_job.h"

#include <algorithm>

namespace bnr::agent {

bool same_blender_job(const protocol::OpenJob& loaded, const protocol::OpenJob& next) {
  const auto same_file = [](const protocol::SceneFile& a, const protocol::SceneFile& b) {
    return a.path == b.path && a.hash == b.hash && a.size == b.size;
  };
  // The frame matters only when it is set: otherwise both render the frame the scene was saved at.
  const bool same_frame = loaded.set_frame == next.set_frame && (!loaded.set_frame || loaded.frame == next.frame);
  return same_frame && loaded.want_exr == next.want_exr && loaded.no_denoise == next.no_denoise &&
         loaded.main_file == next.main_file && loaded.files.size() == next.files.size() &&
         std::equal(loaded.files.begin(), loaded.files.end(), next.files.begin(), same_file);
}

OpenAction decide_open(const std::optional<HeldJob>& held, const Opener& opener, Clock::time_point now,
                       Clock::duration silence) {
  if (!held) return OpenAction::kOpen;
  if (held->broker == opener.broker) return OpenAction::kNextJob;
  if (!opener.broker_key.empty() && opener.broker_key == held->broker_key && !opener.fingerprint.empty() &&
      opener.fingerprint == held->fingerprint)
    return OpenAction::kTakeOver;
  if (now - held->last_heard >= silence) return OpenAction::kReplaceSilent;
  return OpenAction::kRefuseBusy;
}

const char* open_action_name(OpenAction action) {
  switch (action) {
    case OpenAction::kOpen: return "open";
    case OpenAction::kNextJob: return "next job";
    case OpenAction::kTakeOver: return "take over";
    case OpenAction::kReplaceSilent: return "replace a silent broker's job";
    case OpenAction::kRefuseBusy: return "busy";
  }
  return "?";
}

bool from_held_broker(const HeldJob& held, const std::string& held_job_id, const std::string& from,
                      const std::string& key, const std::string& job_id) {
  if (from == held.broker) return true;
  return !key.empty() && key == held.broker_key && !job_id.empty() && job_id == held_job_id;
}

bool warm_expired(Clock::time_point parked_at, Clock::duration keep_warm, Clock::time_point now) {
  return now - parked_at >= keep_warm;
}

}  // namespace bnr::agent
