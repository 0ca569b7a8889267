#include "served_job.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

using std::chrono::seconds;
using Clock = ServedJob::Clock;
const Clock::time_point t0{};

SessionLimits limits() {
  SessionLimits l;
  l.max_restarts = 2;
  l.heartbeat_interval = seconds(1);
  l.broker_timeout = seconds(30);
  l.stall_timeout = seconds(10);
  return l;
}

WorkerLine line(const std::string& kind, std::map<std::string, std::string> fields = {}) { return {kind, fields}; }
WorkerLine ready() { return line("ready", {{"width", "64"}, {"height", "32"}}); }
WorkerLine done(std::uint64_t id) { return line("done", {{"id", std::to_string(id)}, {"png", "x.png"}}); }
protocol::RenderRegion region(std::uint64_t id, protocol::Rect rect = {0, 0, 16, 32}) { return {"job", id, rect}; }

template <class T>
std::vector<T> all(const Actions& actions) {
  std::vector<T> out;
  for (const Action& a : actions)
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  return out;
}

template <class M>
std::vector<M> sent(const Actions& actions) {
  std::vector<M> out;
  for (const action::Send& s : all<action::Send>(actions))
    if (const M* m = std::get_if<M>(&s.message)) out.push_back(*m);
  return out;
}

// A session whose Blender loaded the scene and rendered its warm-up pixel at `t`.
ServedJob loaded(Clock::time_point t = t0) {
  ServedJob s("job", limits(), t);
  s.blender_started(t);
  const Actions warm = s.on_worker(ready(), t);
  EXPECT_EQ(all<action::Render>(warm).size(), 1U);
  EXPECT_TRUE(all<action::Render>(warm).at(0).warm_up);
  const Actions up = s.on_worker(done(ServedJob::kWarmUpRegion), t);
  EXPECT_EQ(all<action::SendReady>(up).size(), 1U);
  return s;
}

TEST(ServedJob, RegionsWaitForTheWarmUpAndThenRenderOneAtATime) {
  ServedJob s("job", limits(), t0);
  s.blender_started(t0);
  EXPECT_TRUE(all<action::Render>(s.on_region(region(1), t0)).empty()) << "still loading";
  (void)s.on_worker(ready(), t0);
  EXPECT_TRUE(s.loading());
  Actions a = s.on_worker(done(ServedJob::kWarmUpRegion), t0 + seconds(1));
  ASSERT_EQ(all<action::Render>(a).size(), 1U);
  EXPECT_EQ(all<action::Render>(a)[0].region.region_id, 1U);
  EXPECT_TRUE(all<action::Render>(s.on_region(region(2), t0)).empty()) << "Blender is busy with 1";
  a = s.on_worker(done(1), t0 + seconds(4));
  ASSERT_EQ(all<action::Deliver>(a).size(), 1U);
  EXPECT_EQ(all<action::Deliver>(a)[0].region.region_id, 1U);
  EXPECT_DOUBLE_EQ(all<action::Deliver>(a)[0].seconds, 3.0);
  ASSERT_EQ(all<action::Render>(a).size(), 1U);
  EXPECT_EQ(all<action::Render>(a)[0].region.region_id, 2U);
}

TEST(ServedJob, ARegionOutsideTheFrameFailsAndTheNextOneRenders) {
  ServedJob s = loaded();
  (void)s.on_region(region(1), t0);
  (void)s.on_region(region(2, {0, 0, 65, 32}), t0);
  (void)s.on_region(region(3), t0);
  const Actions a = s.on_worker(done(1), t0);
  ASSERT_EQ(sent<protocol::RegionFailed>(a).size(), 1U);
  EXPECT_EQ(sent<protocol::RegionFailed>(a)[0].region_id, 2U);
  EXPECT_EQ(sent<protocol::RegionFailed>(a)[0].code, protocol::Code::kBadRegion);
  ASSERT_EQ(all<action::Render>(a).size(), 1U);
  EXPECT_EQ(all<action::Render>(a)[0].region.region_id, 3U);
}

TEST(ServedJob, ACancelledRegionThatIsStillQueuedIsNeverRendered) {
  ServedJob s = loaded();
  (void)s.on_region(region(1), t0);
  (void)s.on_region(region(2), t0);
  s.on_cancel(2);
  EXPECT_TRUE(all<action::Render>(s.on_worker(done(1), t0)).empty());
  EXPECT_EQ(s.queued(), 0U);
}

TEST(ServedJob, ACrashMidJobFailsItsRegionAndRestartsBlenderUpToTheLimit) {
  ServedJob s = loaded();
  (void)s.on_region(region(1), t0);
  Actions a = s.on_blender_exit("Blender exited: Segmentation fault");
  ASSERT_EQ(sent<protocol::RegionFailed>(a).size(), 1U);
  EXPECT_EQ(sent<protocol::RegionFailed>(a)[0].region_id, 1U);
  ASSERT_EQ(all<action::RestartBlender>(a).size(), 1U);
  EXPECT_FALSE(all<action::RestartBlender>(a)[0].hung);
  s.blender_started(t0);
  (void)s.on_worker(ready(), t0);
  a = s.on_worker(done(ServedJob::kWarmUpRegion), t0);
  EXPECT_TRUE(all<action::SendReady>(a).empty()) << "JobReady goes once per job";
  EXPECT_EQ(all<action::RestartBlender>(s.on_blender_exit("again")).size(), 1U);
  a = s.on_blender_exit("and again");
  ASSERT_EQ(all<action::FailJob>(a).size(), 1U) << "after max_restarts the job fails";
  EXPECT_EQ(all<action::FailJob>(a)[0].reason, "and again");
}

TEST(ServedJob, ABlenderThatDiesBeforeTheSceneLoadsFailsTheJob) {
  ServedJob s("job", limits(), t0);
  s.blender_started(t0);
  const Actions a = s.on_blender_exit("Blender exited: cannot read file");
  ASSERT_EQ(all<action::FailJob>(a).size(), 1U);
  EXPECT_TRUE(all<action::RestartBlender>(a).empty());
}

TEST(ServedJob, AHungLoadFailsTheJobNamingTheFlag) {
  ServedJob s("job", limits(), t0);
  s.blender_started(t0);
  EXPECT_TRUE(s.on_progress(t0, {seconds(1), true}).empty());
  EXPECT_TRUE(s.on_progress(t0 + seconds(5), {seconds(2), false}).empty()) << "CPU time gained";
  EXPECT_TRUE(s.on_progress(t0 + seconds(14), {seconds(2), false}).empty());
  const Actions a = s.on_progress(t0 + seconds(15), {seconds(2), false});
  ASSERT_EQ(all<action::FailJob>(a).size(), 1U);
  EXPECT_TRUE(all<action::FailJob>(a)[0].hung);
  EXPECT_EQ(all<action::FailJob>(a)[0].code, protocol::Code::kStalled);
  const std::string why = all<action::FailJob>(a)[0].reason;
  EXPECT_NE(why.find("no progress for 10 s while loading the scene"), std::string::npos) << why;
  EXPECT_NE(why.find("--stall-timeout"), std::string::npos) << why;
}

TEST(ServedJob, AHungRenderFailsItsRegionAndRestartsTheKilledBlender) {
  ServedJob s = loaded();
  (void)s.on_region(region(7), t0);
  EXPECT_TRUE(s.on_progress(t0, {seconds(3), false}).empty());
  const Actions a = s.on_progress(t0 + seconds(10), {seconds(3), false});
  ASSERT_EQ(sent<protocol::RegionFailed>(a).size(), 1U);
  EXPECT_NE(sent<protocol::RegionFailed>(a)[0].reason.find("rendering region 7"), std::string::npos);
  EXPECT_EQ(sent<protocol::RegionFailed>(a)[0].code, protocol::Code::kStalled);
  ASSERT_EQ(all<action::RestartBlender>(a).size(), 1U);
  EXPECT_TRUE(all<action::RestartBlender>(a)[0].hung);
  EXPECT_TRUE(s.loading());
}

TEST(ServedJob, AnIdleBlenderWaitingForRegionsIsNotHung) {
  ServedJob s = loaded();
  EXPECT_TRUE(s.on_progress(t0, {seconds(3), false}).empty());
  EXPECT_TRUE(s.on_progress(t0 + seconds(1000), {seconds(3), false}).empty());
  (void)s.on_region(region(1), t0 + seconds(1000));
  EXPECT_TRUE(s.on_progress(t0 + seconds(1001), {seconds(3), false}).empty()) << "the timeout starts now";
  EXPECT_TRUE(s.on_progress(t0 + seconds(1010), {seconds(3), false}).empty());
  EXPECT_FALSE(s.on_progress(t0 + seconds(1011), {seconds(3), false}).empty());
}

TEST(ServedJob, HeartbeatsGoOutWhenNothingElseWasSentAndASilentBrokerEndsTheJob) {
  ServedJob s = loaded();
  EXPECT_TRUE(s.on_tick(t0).empty());
  EXPECT_EQ(sent<protocol::Heartbeat>(s.on_tick(t0 + seconds(1))).size(), 1U);
  s.sent(t0 + seconds(2));
  EXPECT_TRUE(sent<protocol::Heartbeat>(s.on_tick(t0 + seconds(2))).empty());
  s.heard(t0 + seconds(20));
  EXPECT_TRUE(all<action::EndJob>(s.on_tick(t0 + seconds(50))).empty());
  EXPECT_EQ(all<action::EndJob>(s.on_tick(t0 + seconds(51))).size(), 1U);
}

TEST(ServedJob, AnAdoptedWarmBlenderIsReadyAtOnceButFinishesItsAbandonedRegionFirst) {
  ServedJob s("job", limits(), t0);
  protocol::SceneInfo scene;
  scene.width = 64;
  scene.height = 32;
  Actions a = s.adopt_loaded(scene, protocol::RenderRegion{"old-job", 1, {0, 0, 8, 8}}, t0);
  EXPECT_EQ(all<action::SendReady>(a).size(), 1U);
  EXPECT_TRUE(all<action::Render>(s.on_region(region(1), t0)).empty()) << "region ids of the two jobs collide";
  a = s.on_worker(done(1), t0);
  EXPECT_TRUE(all<action::Deliver>(a).empty()) << "the old job's result is nobody's";
  EXPECT_EQ(all<action::Discard>(a).size(), 1U);
  ASSERT_EQ(all<action::Render>(a).size(), 1U);
  EXPECT_EQ(all<action::Render>(a)[0].region.region_id, 1U);
}

TEST(ServedJob, AWorkerErrorFailsTheJobWithBlendersMessage) {
  ServedJob s = loaded();
  const Actions a = s.on_worker(line("error", {{"message", "Build without OpenImageDenoiser"}}), t0);
  ASSERT_EQ(all<action::FailJob>(a).size(), 1U);
  EXPECT_EQ(all<action::FailJob>(a)[0].reason, "Build without OpenImageDenoiser");
  EXPECT_EQ(all<action::FailJob>(a)[0].code, protocol::Code::kSceneRefused) << "every agent would say the same";
}

}  // namespace
}  // namespace bnr::agent
