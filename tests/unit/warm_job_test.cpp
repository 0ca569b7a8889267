#include "warm_job.h"

#include <gtest/gtest.h>

namespace bnr::agent {
namespace {

using std::chrono::seconds;

protocol::OpenJob job(const std::string& id) {
  protocol::OpenJob open{id, "s.blend", false, true, true, 7};
  open.files = {{"home/u/s.blend", 10, std::string(64, 'a')}, {"home/u/tex.png", 5, std::string(64, 'b')}};
  open.fingerprint = std::string(64, 'f');
  return open;
}

const Clock::time_point t0{};

TEST(WarmJob, ASecondRunOfTheSameSceneReusesTheBlenderWhateverItsJobId) {
  EXPECT_TRUE(same_blender_job(job("first"), job("second")));
}

TEST(WarmJob, AnyChangeToFilesFrameOrBlenderSettingsNeedsAFreshBlender) {
  const protocol::OpenJob loaded = job("a");
  std::vector<protocol::OpenJob> changed(7, job("b"));
  changed[0].files[1].hash = std::string(64, 'c');  // an edited texture
  changed[1].files[0].path = "home/v/s.blend";      // the same bytes elsewhere: relative paths differ
  changed[2].files.pop_back();
  changed[3].frame = 8;
  changed[4].want_exr = true;
  changed[5].no_denoise = false;
  changed[6].main_file = 1;
  for (std::size_t i = 0; i < changed.size(); ++i) EXPECT_FALSE(same_blender_job(loaded, changed[i])) << i;
}

TEST(WarmJob, TheFrameNumberIsIgnoredWhenNeitherJobSetsIt) {
  protocol::OpenJob a = job("a"), b = job("b");
  a.set_frame = b.set_frame = false;
  b.frame = 99;
  EXPECT_TRUE(same_blender_job(a, b));
  b.set_frame = true;
  EXPECT_FALSE(same_blender_job(a, b));
}

TEST(WarmJob, AnAgentWithoutAJobOpensIt) {
  EXPECT_EQ(decide_open(std::nullopt, {"r1", "K", "F"}, t0, seconds(3)), OpenAction::kOpen);
}

TEST(WarmJob, TheSameConnectionOpeningAgainStartsItsNextJob) {
  const HeldJob held{"r1", "K", "F", t0};
  EXPECT_EQ(decide_open(held, {"r1", "K", "G"}, t0, seconds(3)), OpenAction::kNextJob);
}

TEST(WarmJob, ARestartedBrokerWithTheSameKeyAndJobTakesOverAtOnce) {
  const HeldJob held{"r1", "K", "F", t0};
  // Heard a moment ago: no waiting for heartbeats to stop.
  EXPECT_EQ(decide_open(held, {"r2", "K", "F"}, t0 + seconds(0), seconds(3)), OpenAction::kTakeOver);
}

TEST(WarmJob, AnotherBrokerOrAnotherJobOfALiveBrokerIsRefusedAsBusy) {
  const HeldJob held{"r1", "K", "F", t0};
  EXPECT_EQ(decide_open(held, {"r2", "L", "F"}, t0 + seconds(1), seconds(3)), OpenAction::kRefuseBusy);
  EXPECT_EQ(decide_open(held, {"r2", "K", "G"}, t0 + seconds(1), seconds(3)), OpenAction::kRefuseBusy);
}

TEST(WarmJob, WithoutKeyOrFingerprintThereIsNoTakeOverOnlyTheSilenceRule) {
  const HeldJob no_print{"r1", "K", "", t0};
  EXPECT_EQ(decide_open(no_print, {"r2", "K", ""}, t0 + seconds(1), seconds(3)), OpenAction::kRefuseBusy);
  const HeldJob no_key{"r1", "", "F", t0};
  EXPECT_EQ(decide_open(no_key, {"r2", "", "F"}, t0 + seconds(1), seconds(3)), OpenAction::kRefuseBusy);
  EXPECT_EQ(decide_open(no_key, {"r2", "", "F"}, t0 + seconds(3), seconds(3)), OpenAction::kReplaceSilent);
}

TEST(WarmJob, ASilentBrokersJobGoesToAnyAuthorizedBroker) {
  const HeldJob held{"r1", "K", "F", t0};
  EXPECT_EQ(decide_open(held, {"r2", "L", "G"}, t0 + seconds(2), seconds(3)), OpenAction::kRefuseBusy);
  EXPECT_EQ(decide_open(held, {"r2", "L", "G"}, t0 + seconds(3), seconds(3)), OpenAction::kReplaceSilent);
}

TEST(WarmJob, AWarmBlenderExpiresAfterItsKeepWarmTime) {
  EXPECT_FALSE(warm_expired(t0, seconds(300), t0 + seconds(299)));
  EXPECT_TRUE(warm_expired(t0, seconds(300), t0 + seconds(300)));
}

TEST(WarmJob, TheSameBrokerKeyAboutTheSameJobOverANewConnectionIsTheSameBroker) {
  const HeldJob held{"conn-1", "KEY", "f", Clock::time_point{}};
  EXPECT_TRUE(from_held_broker(held, "job", "conn-1", "KEY", "job"));
  EXPECT_TRUE(from_held_broker(held, "job", "conn-1", "KEY", "")) << "its own connection, whatever it says";
  EXPECT_TRUE(from_held_broker(held, "job", "conn-2", "KEY", "job")) << "reconnected under a new routing id";
  EXPECT_FALSE(from_held_broker(held, "job", "conn-2", "KEY", "other-job"));
  EXPECT_FALSE(from_held_broker(held, "job", "conn-2", "OTHER", "job")) << "another broker";
  EXPECT_FALSE(from_held_broker(held, "job", "conn-2", "KEY", ""));
  const HeldJob keyless{"conn-1", "", "f", Clock::time_point{}};
  EXPECT_FALSE(from_held_broker(keyless, "job", "conn-2", "", "job")) << "no key: nothing to recognise it by";
}

}  // namespace
}  // namespace bnr::agent
