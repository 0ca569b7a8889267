#include "served_job.h"

#include <stdexcept>

namespace bnr::agent {

ServedJob::ServedJob(std::string job_id, SessionLimits limits, Clock::time_point now)
    : job_id_(std::move(job_id)), limits_(limits), liveness_(now), stall_(limits.stall_timeout) {}

void ServedJob::blender_started(Clock::time_point) {
  ready_ = false;
  warming_up_ = false;
  stall_.stop();
}

Actions ServedJob::adopt_loaded(const protocol::SceneInfo& scene, std::optional<protocol::RenderRegion> abandoned,
                                 Clock::time_point now) {
  scene_ = scene;
  abandoned_ = std::move(abandoned);
  ready_ = ready_once_ = true;
  Actions out{action::SendReady{scene_}};
  start_next(now, out);
  return out;
}

Actions ServedJob::on_region(const protocol::RenderRegion& region, Clock::time_point now) {
  Actions out;
  if (region.job_id != job_id_) return out;
  queue_.push_back(region);
  start_next(now, out);
  return out;
}

void ServedJob::on_cancel(std::uint64_t region_id) {
  // A region already rendering finishes (Blender cannot stop one cheaply); queued ones go.
  std::erase_if(queue_, [&](const protocol::RenderRegion& r) { return r.region_id == region_id; });
}

Actions ServedJob::on_worker(const WorkerLine& line, Clock::time_point now) {
  Actions out;
  const bool result = line.kind == "done" || line.kind == "failed";
  if (abandoned_ && result) {
    out.emplace_back(action::Log{"dropped region " + std::to_string(abandoned_->region_id) +
                                 " of an earlier broker run (" + line.kind + ")"});
    out.emplace_back(action::Discard{abandoned_->region_id});
    abandoned_.reset();
  } else if (line.kind == "ready") {
    try {
      scene_ = scene_info_from_ready(line);
    } catch (const std::exception& e) {
      out.emplace_back(action::FailJob{protocol::Code::kBlenderFailed, e.what()});
      return out;
    }
    // One pixel first: Blender's one-off scene sync would otherwise land in the first real
    // region's time, and the broker would learn those columns as twice as costly.
    warming_up_ = true;
    out.emplace_back(action::Render{{job_id_, kWarmUpRegion, {0, 0, 1, 1}}, true});
    return out;
  } else if (warming_up_ && result && line.get("id") == std::to_string(kWarmUpRegion)) {
    // A failed warm-up is not the job's failure: real regions report Blender's reason.
    warming_up_ = false;
    out.emplace_back(action::Discard{kWarmUpRegion});
    const bool restarted = ready_once_;
    ready_ = ready_once_ = true;
    out.emplace_back(action::Log{"job " + job_id_ + ": scene " + (restarted ? "reloaded, " : "ready, ") +
                                 std::to_string(scene_.width) + "x" + std::to_string(scene_.height)});
    if (!restarted) out.emplace_back(action::SendReady{scene_});
  } else if (line.kind == "error") {
    out.emplace_back(action::FailJob{protocol::Code::kSceneRefused, line.get("message")});
    return out;
  } else if (line.kind == "done") {
    if (rendering_) {
      const double seconds = std::chrono::duration<double>(now - render_started_).count();
      out.emplace_back(action::Deliver{*rendering_, line, seconds});
      ++regions_done_;
      rendering_.reset();
    }
  } else if (line.kind == "failed") {
    if (rendering_) {
      const std::string reason = line.get("message");
      out.emplace_back(action::Log{"region " + std::to_string(rendering_->region_id) + " failed: " + reason});
      out.emplace_back(action::Send{protocol::RegionFailed{job_id_, rendering_->region_id, reason}});
      rendering_.reset();
    }
  }
  start_next(now, out);
  return out;
}

Actions ServedJob::on_blender_exit(const std::string& reason) {
  Actions out;
  blender_lost(protocol::Code::kBlenderFailed, reason, false, out);
  return out;
}

Actions ServedJob::on_tick(Clock::time_point now) {
  Actions out;
  if (liveness_.heartbeat_due(limits_.heartbeat_interval, now)) {
    out.emplace_back(action::Send{protocol::Heartbeat{job_id_}});
    liveness_.sent(now);
  }
  if (liveness_.silent_for_more_than(limits_.broker_timeout, now))
    out.emplace_back(action::EndJob{"the broker went silent"});
  return out;
}

Actions ServedJob::on_progress(Clock::time_point now, const BlenderProgress& progress) {
  Actions out;
  if (ready_ && !rendering_ && !abandoned_) {
    stall_.stop();  // idle: waiting for the broker is not a hang
    return out;
  }
  if (!stall_.watching()) {
    stall_.start(now, progress.cpu.value_or(Clock::duration::zero()));
    return out;
  }
  if (!stall_.stalled(now, progress.cpu, progress.output)) return out;
  const std::string what = !ready_once_ ? "while loading the scene"
                           : rendering_ ? "rendering region " + std::to_string(rendering_->region_id)
                           : abandoned_ ? "rendering a region of an earlier job"
                                        : "reloading the scene";
  const auto timeout = std::chrono::duration_cast<std::chrono::seconds>(limits_.stall_timeout).count();
  blender_lost(protocol::Code::kStalled, "Blender made no progress for " + std::to_string(timeout) + " s " + what +
                   " (no CPU time, no output) and was killed; if it is only slow, raise bnr-agent --stall-timeout",
               true, out);
  return out;
}

void ServedJob::start_next(Clock::time_point now, Actions& out) {
  const protocol::Rect frame{0, 0, scene_.width, scene_.height};
  while (ready_ && !rendering_ && !abandoned_ && !queue_.empty()) {
    const protocol::RenderRegion region = queue_.front();
    queue_.pop_front();
    if (!frame.contains(region.rect)) {
      out.emplace_back(action::Send{protocol::RegionFailed{job_id_, region.region_id, "region lies outside the frame", protocol::Code::kBadRegion}});
      continue;
    }
    rendering_ = region;
    render_started_ = now;
    out.emplace_back(action::Render{region, false});
  }
}

// A scene Blender cannot load fails the job; a crash or hang mid-job costs one region and a
// reload, a few times at most.
void ServedJob::blender_lost(protocol::Code code, const std::string& reason, bool hung, Actions& out) {
  if (!ready_once_ || restarts_ >= limits_.max_restarts) {
    out.emplace_back(action::FailJob{code, reason, hung});
    return;
  }
  if (rendering_) {
    out.emplace_back(action::Send{protocol::RegionFailed{job_id_, rendering_->region_id, reason, code}});
    rendering_.reset();
  }
  abandoned_.reset();
  ready_ = warming_up_ = false;
  stall_.stop();
  ++restarts_;
  out.emplace_back(action::Log{"job " + job_id_ + ": " + reason + "; restarting Blender (" +
                               std::to_string(restarts_) + " of " + std::to_string(limits_.max_restarts) + ")"});
  out.emplace_back(action::RestartBlender{hung});
}

}  // namespace bnr::agent
