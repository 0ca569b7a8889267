// What an agent does with an OpenJob, given the job it holds and the Blender it keeps warm:
// open it fresh, reuse the warm Blender, take the job over from an earlier run of the same
// broker, or refuse as busy. Pure: no sockets, no clock (time is an argument).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "messages.h"

namespace bnr::agent {

using Clock = std::chrono::steady_clock;

// True when a Blender started and loaded for `loaded` renders `next` exactly as a fresh one
// would: the same files (paths and hashes) with the same main file, the same frame, and the
// same settings the Blender process or its renders depend on (EXR output, denoising). The
// agent's own settings (threads, Blender executable) do not change while it runs.
[[nodiscard]] bool same_blender_job(const protocol::OpenJob& loaded, const protocol::OpenJob& next);

// The job an agent holds when another OpenJob arrives.
struct HeldJob {
  std::string broker;       // ZeroMQ routing id of the connection that opened it
  std::string broker_key;   // that broker's CURVE public key (the ZAP user id); may be empty
  std::string fingerprint;  // its OpenJob::fingerprint; empty from an older broker
  Clock::time_point last_heard;
};

// Who sends the new OpenJob.
struct Opener {
  std::string broker;
  std::string broker_key;
  std::string fingerprint;
};

enum class OpenAction {
  kOpen,          // no job held
  kNextJob,       // the same connection opens another job: the held one is over
  kTakeOver,      // the same broker key re-opens the same job (a restarted broker): hand over now
  kReplaceSilent, // the held job's broker went silent for `silence`: it was killed or cut off
  kRefuseBusy,    // another broker's live job
};

// `silence`: how long without a word from the held job's broker counts as gone (a live one
// sends a heartbeat every interval). A takeover needs both a key and a fingerprint: an
// older broker sends no fingerprint, and without ZAP there is no key to compare.
[[nodiscard]] OpenAction decide_open(const std::optional<HeldJob>& held, const Opener& opener, Clock::time_point now,
                                     Clock::duration silence);

[[nodiscard]] const char* open_action_name(OpenAction action);

// Whether a message about `job_id` that came over connection `from`, authenticated as `key`,
// is from the broker of `held` (whose job is `held_job_id`): over the same connection, or from
// the same broker key about the same job over a new connection (its link dropped and came
// back under a new routing id). Without a key (no ZAP) only the connection counts.
[[nodiscard]] bool from_held_broker(const HeldJob& held, const std::string& held_job_id, const std::string& from,
                                    const std::string& key, const std::string& job_id);

// A Blender parked at `parked_at` with `keep_warm` to live: whether it is time to stop it.
// keep_warm of zero means it is never parked at all (see AgentConfig::keep_warm).
[[nodiscard]] bool warm_expired(Clock::time_point parked_at, Clock::duration keep_warm, Clock::time_point now);

}  // namespace bnr::agent
