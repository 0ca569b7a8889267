#include "job_session.h"

#include <gtest/gtest.h>

#include <string>

namespace bnr::broker {
namespace {

using namespace std::chrono_literals;
using protocol::Code;

const Clock::time_point t0{};

SessionConfig config(int width = 64) {
  SessionConfig c;
  c.open.job_id = "j";
  c.open.scene_name = "scene.blend";
  c.frame = FrameFacts{width, 8, {}, {}};
  c.scheduler.region_width = 16;  // fixed widths keep the expected regions obvious
  c.scene_bytes = 1000;
  c.agent_timeout = 10s;
  c.open_timeout = 60s;
  c.region_timeout_floor = 30s;
  return c;
}

protocol::JobReady ready(int width = 64) {
  protocol::JobReady r;
  r.job_id = "j";
  r.agent = {"host", "host/a", 1, "3.4.1"};
  r.scene.width = width;
  r.scene.height = 8;
  return r;
}

template <class A>
std::vector<A> all(const Actions& actions) {
  std::vector<A> out;
  for (const Action& a : actions)
    if (const auto* x = std::get_if<A>(&a)) out.push_back(*x);
  return out;
}

template <class M>
std::vector<M> sent(const Actions& actions, AgentId agent) {
  std::vector<M> out;
  for (const action::Send& s : all<action::Send>(actions))
    if (const auto* m = std::get_if<M>(&s.message); m != nullptr && s.agent == agent) out.push_back(*m);
  return out;
}

std::string fail_reason(const Actions& actions) {
  const auto fails = all<action::Fail>(actions);
  return fails.empty() ? std::string() : fails.front().reason;
}

std::string logs(const Actions& actions) {
  std::string out;
  for (const action::Log& l : all<action::Log>(actions)) out += l.line + "\n";
  return out;
}

// Two agents added and ready; returns the actions of the second JobReady.
struct TwoReady {
  JobSession session;
  Actions first_ready, second_ready;
  explicit TwoReady(SessionConfig c = config()) : session(std::move(c), t0) {
    (void)session.add_agent("a:1", "KEYA", t0);
    (void)session.add_agent("b:1", "KEYB", t0);
    first_ready = session.on_message(0, ready(), t0 + 1s);
    const Actions more = session.frame_started(t0 + 1s);
    first_ready.insert(first_ready.end(), more.begin(), more.end());
    protocol::JobReady r = ready();
    r.agent.agent_id = "host/b";
    second_ready = session.on_message(1, r, t0 + 1s);
  }
};

TEST(JobSession, AddingAnAgentWithAKeySendsItTheJob) {
  JobSession s(config(), t0);
  EXPECT_EQ(sent<protocol::OpenJob>(s.add_agent("a:1", "KEY", t0), 0).size(), 1U);
  // Without a key nothing may be sent: the connection only shows whether anything listens.
  EXPECT_TRUE(all<action::Send>(s.add_agent("b:1", "", t0)).empty());
}

TEST(JobSession, RegionFailedBeforeJobReadyIsIgnored) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEY", t0);
  const Actions out = s.on_message(0, protocol::RegionFailed{"j", 1, "boom", Code::kUnspecified}, t0 + 1s);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(s.gone(0));
  EXPECT_FALSE(s.started());
  // Nor does a RegionDone for a region never asked for do anything.
  protocol::RegionDone done{"j", 1, {0, 0, 16, 8}, 1, false, 1.0};
  EXPECT_TRUE(s.on_message(0, done, t0 + 1s).empty());
}

TEST(JobSession, TheFirstReadyAgentStartsTheFrameAndGetsRegions) {
  TwoReady t;
  ASSERT_EQ(all<action::StartFrame>(t.first_ready).size(), 1U);
  EXPECT_EQ(all<action::StartFrame>(t.first_ready)[0].scene.width, 64);
  EXPECT_EQ(sent<protocol::RenderRegion>(t.first_ready, 0).size(), 2U);  // one rendering, one queued
  EXPECT_TRUE(all<action::StartFrame>(t.second_ready).empty());
  EXPECT_EQ(sent<protocol::RenderRegion>(t.second_ready, 1).size(), 2U);
}

TEST(JobSession, ResultsAreMergedUntilTheFrameIsDone) {
  TwoReady t;
  std::vector<std::pair<AgentId, protocol::RenderRegion>> pending;
  for (const auto& r : sent<protocol::RenderRegion>(t.first_ready, 0)) pending.emplace_back(0, r);
  for (const auto& r : sent<protocol::RenderRegion>(t.second_ready, 1)) pending.emplace_back(1, r);
  std::size_t merged = 0;
  auto now = t0 + 2s;
  while (!pending.empty()) {
    const auto [agent, region] = pending.front();
    pending.erase(pending.begin());
    now += 1s;
    const Actions out = t.session.on_message(agent, protocol::RegionDone{"j", region.region_id, region.rect, 1, false, 1.0}, now);
    merged += all<action::Merge>(out).size();
    for (const auto& r : sent<protocol::RenderRegion>(out, agent)) pending.emplace_back(agent, r);
  }
  EXPECT_TRUE(t.session.finished());
  EXPECT_EQ(merged, 4U);  // 64 columns in regions of 16
}

TEST(JobSession, PixelsThatDoNotFitTheJobAreNotMerged) {
  TwoReady t;
  const protocol::RenderRegion r = sent<protocol::RenderRegion>(t.first_ready, 0).front();
  // Two views in a mono frame: the payload matched its own header, not this job.
  const Actions out = t.session.on_message(0, protocol::RegionDone{"j", r.region_id, r.rect, 2, false, 1.0}, t0 + 2s);
  EXPECT_TRUE(all<action::Merge>(out).empty());
  EXPECT_FALSE(t.session.finished());
}

TEST(JobSession, WithPassesEveryRegionMustBringTheChannelsTheFirstOneBrought) {
  SessionConfig c = config();
  c.want_passes = true;
  TwoReady t(std::move(c));
  const auto region_done = [](const protocol::RenderRegion& r, std::vector<protocol::PassChannel> channels) {
    protocol::RegionDone done{"j", r.region_id, r.rect, 1, false, 1.0};
    done.passes.channels = std::move(channels);
    return done;
  };
  const std::vector<protocol::PassChannel> main = {{"Main.Combined.R", true}, {"Main.Depth.Z", false}};
  const auto a_regions = sent<protocol::RenderRegion>(t.first_ready, 0);
  const auto b_regions = sent<protocol::RenderRegion>(t.second_ready, 1);
  ASSERT_FALSE(a_regions.empty());
  ASSERT_FALSE(b_regions.empty());

  Actions out = t.session.on_message(0, region_done(a_regions[0], {}), t0 + 2s);
  EXPECT_TRUE(all<action::Merge>(out).empty()) << "no passes where passes were asked for";
  out = t.session.on_message(1, region_done(b_regions[0], main), t0 + 2s);
  EXPECT_EQ(all<action::Merge>(out).size(), 1U);
  protocol::RenderRegion again = a_regions.size() > 1 ? a_regions[1] : sent<protocol::RenderRegion>(out, 0).front();
  out = t.session.on_message(0, region_done(again, {{"Main.Combined.R", true}}), t0 + 3s);
  EXPECT_TRUE(all<action::Merge>(out).empty()) << "other channels than the first region's";
  EXPECT_FALSE(t.session.finished());
}

TEST(JobSession, AWholeFrameCompositorAsksForRawPassesOrSaysWhyNot) {
  const auto first_ready = [](SessionConfig c) {
    JobSession session(std::move(c), t0);
    (void)session.add_agent("a:1", "KEYA", t0);
    protocol::JobReady r = ready();
    r.scene.post_process = {"Glare (compositor node 'Glare')"};
    Actions out = session.on_message(0, r, t0 + 1s);
    const Actions more = session.frame_started(t0 + 1s);
    out.insert(out.end(), more.begin(), more.end());
    return std::make_pair(session.pass_mode(), out);
  };
  SessionConfig can = config();
  can.can_post_process = true;
  const auto [mode, out] = first_ready(can);
  EXPECT_EQ(mode, protocol::PassMode::kRaw);
  const auto regions = sent<protocol::RenderRegion>(out, 0);
  ASSERT_FALSE(regions.empty());
  EXPECT_EQ(regions.front().passes, protocol::PassMode::kRaw) << "compositing off, float passes";

  const std::string no_blender = fail_reason(first_ready(config()).second);
  EXPECT_NE(no_blender.find("Glare"), std::string::npos) << no_blender;
  EXPECT_NE(no_blender.find("needs Blender here"), std::string::npos) << no_blender;
  SessionConfig multilayer = can;
  multilayer.want_passes = true;
  EXPECT_EQ(first_ready(multilayer).first, protocol::PassMode::kRaw) << "composited, then every pass added";
}

TEST(JobSession, AnAgentOnlyFailureDropsThatAgentAndTheJobGoesOn) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  const Actions failed =
      s.on_message(0, protocol::JobFailed{"j", "the scene's files exceed this agent's cache limit", Code::kCacheLimit}, t0 + 1s);
  EXPECT_TRUE(fail_reason(failed).empty());
  EXPECT_TRUE(s.gone(0));
  EXPECT_EQ(sent<protocol::CloseJob>(failed, 0).size(), 1U);
  (void)s.on_message(1, ready(), t0 + 2s);
  const Actions go_on = s.frame_started(t0 + 2s);
  EXPECT_EQ(sent<protocol::RenderRegion>(go_on, 1).size(), 2U);
  EXPECT_NE(s.reports()[0].note.find("cache limit"), std::string::npos);
}

TEST(JobSession, ASceneBlenderRefusesEndsTheJob) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  const Actions out = s.on_message(0, protocol::JobFailed{"j", "not a Cycles scene", Code::kSceneRefused}, t0 + 1s);
  EXPECT_EQ(fail_reason(out), "scene.blend: not a Cycles scene");
}

TEST(JobSession, TheBrokerOwnsTheFrame) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  const Actions other = s.on_message(0, ready(/*width=*/128), t0 + 1s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_TRUE(all<action::StartFrame>(other).empty());
  EXPECT_NE(s.reports()[0].note.find("another frame (128x8)"), std::string::npos) << s.reports()[0].note;
  EXPECT_FALSE(s.gone(1));
}

TEST(JobSession, AViewSuffixThatIsNotAPlainNameIsRefused) {
  SessionConfig c = config();
  c.frame.reset();  // even without the broker's own reading of the scene
  JobSession s(c, t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  protocol::JobReady r = ready();
  r.scene.views = {"left", "right"};
  r.scene.view_suffixes = {"_L", "/../../etc/x"};
  r.scene.stereo = "INDIVIDUAL";
  (void)s.on_message(0, r, t0 + 1s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_NE(s.reports()[0].note.find("not a plain name"), std::string::npos) << s.reports()[0].note;
}

TEST(JobSession, AFrameTooLargeForThisMachineIsRefused) {
  SessionConfig c = config();
  c.frame.reset();
  c.max_frame_bytes = 1 << 20;
  JobSession s(c, t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  protocol::JobReady r = ready();
  r.scene.width = r.scene.height = 65536;
  const Actions out = s.on_message(0, r, t0 + 1s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_TRUE(all<action::StartFrame>(out).empty());
  EXPECT_NE(s.reports()[0].note.find("MiB to merge"), std::string::npos) << s.reports()[0].note;
}

TEST(JobSession, AnAgentNeverReadyIsDroppedAtTheOpenDeadlineAndTheJobFails) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  for (auto now = t0; now < t0 + 59s; now += 1s) {
    (void)s.on_message(0, protocol::Heartbeat{"j"}, now);  // heard, yet never ready
    EXPECT_TRUE(fail_reason(s.on_tick(now)).empty());
  }
  (void)s.on_message(0, protocol::Heartbeat{"j"}, t0 + 61s);
  const Actions out = s.on_tick(t0 + 61s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_NE(fail_reason(out).find("not ready after 60 s"), std::string::npos) << fail_reason(out);
}

TEST(JobSession, FetchingSceneBytesIsProgressButOnlyUpToTheSceneSize) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  const std::string hash(64, 'a');
  const Actions chunk = s.on_message(0, protocol::FetchChunk{"j", hash, 0, 500}, t0 + 50s);
  EXPECT_EQ(all<action::SendChunk>(chunk).size(), 1U);
  (void)s.on_message(0, protocol::Heartbeat{"j"}, t0 + 100s);
  EXPECT_TRUE(all<action::Log>(s.on_tick(t0 + 100s)).empty());  // 50 s since the last fetch
  EXPECT_FALSE(s.gone(0));
  // An agent asking for far more than the files hold is making this broker read without end.
  for (int i = 0; i < 10 && !s.gone(0); ++i)
    (void)s.on_message(0, protocol::FetchChunk{"j", hash, 0, protocol::kMaxChunkBytes}, t0 + 101s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_NE(s.reports()[0].note.find("more scene bytes"), std::string::npos);
}

TEST(JobSession, ALateResultDropsTheAgentAndItsRegionsGoElsewhere) {
  SessionConfig c = config();
  c.scheduler.duplicate_tail = false;  // else agent 1 would finish agent 0's regions first
  TwoReady t(c);
  auto now = t0 + 1s;
  // Agent 1 delivers; agent 0 never does, though it keeps sending heartbeats (a hung Blender).
  std::vector<protocol::RenderRegion> b = sent<protocol::RenderRegion>(t.second_ready, 1);
  bool dropped = false;
  for (int step = 0; step < 40 && !dropped; ++step) {
    now += 1s;
    (void)t.session.on_message(0, protocol::Heartbeat{"j"}, now);
    (void)t.session.on_message(1, protocol::Heartbeat{"j"}, now);
    if (!b.empty()) {
      const protocol::RenderRegion r = b.front();
      b.erase(b.begin());
      const Actions out = t.session.on_message(1, protocol::RegionDone{"j", r.region_id, r.rect, 1, false, 0.5}, now);
      for (const auto& more : sent<protocol::RenderRegion>(out, 1)) b.push_back(more);
    }
    const Actions tick = t.session.on_tick(now);
    for (const auto& more : sent<protocol::RenderRegion>(tick, 1)) b.push_back(more);
    dropped = t.session.gone(0);
  }
  ASSERT_TRUE(dropped);
  EXPECT_NE(t.session.reports()[0].note.find("no result for columns"), std::string::npos) << t.session.reports()[0].note;
  EXPECT_FALSE(t.session.gone(1));
  // Agent 1 renders what agent 0 held, and the frame finishes.
  for (int step = 0; step < 10 && !b.empty(); ++step) {
    const protocol::RenderRegion r = b.front();
    b.erase(b.begin());
    const Actions out = t.session.on_message(1, protocol::RegionDone{"j", r.region_id, r.rect, 1, false, 0.5}, now);
    for (const auto& more : sent<protocol::RenderRegion>(out, 1)) b.push_back(more);
    for (const auto& more : sent<protocol::RenderRegion>(t.session.on_tick(now), 1)) b.push_back(more);
  }
  EXPECT_TRUE(t.session.finished());
}

TEST(JobSession, ABusyAgentIsAskedAgainASecondLater) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.on_message(0, protocol::Refused{"busy with another broker's job", Code::kBusy}, t0 + 100ms);
  EXPECT_TRUE(sent<protocol::OpenJob>(s.on_tick(t0 + 500ms), 0).empty());
  EXPECT_EQ(sent<protocol::OpenJob>(s.on_tick(t0 + 1200ms), 0).size(), 1U);
  // Another refusal is final.
  (void)s.on_message(0, protocol::Refused{"no", Code::kBadMessage}, t0 + 1300ms);
  EXPECT_TRUE(s.gone(0));
}

TEST(JobSession, ASilentAgentIsDroppedAndALiveOneGetsHeartbeats) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  EXPECT_EQ(sent<protocol::Heartbeat>(s.on_tick(t0 + 1s), 0).size(), 1U);
  EXPECT_TRUE(sent<protocol::Heartbeat>(s.on_tick(t0 + 1500ms), 0).empty());
  const Actions out = s.on_tick(t0 + 11s);
  EXPECT_TRUE(s.gone(0));
  EXPECT_NE(fail_reason(out).find("did not answer"), std::string::npos) << fail_reason(out);
}

TEST(JobSession, AnAgentThatRefusesThisBrokersKeyIsDroppedWithWhatToDo) {
  SessionConfig c = config();
  c.broker_key = "BROKERKEY";
  JobSession s(c, t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  EXPECT_TRUE(s.on_handshake(0, Handshake::kConnected, t0).empty());
  const Actions out = s.on_handshake(0, Handshake::kRefusedKey, t0 + 1s);
  EXPECT_EQ(all<action::CloseLink>(out).size(), 1U);
  EXPECT_NE(s.reports()[0].note.find("bnr-agent --authorize 'BROKERKEY'"), std::string::npos);
}

TEST(JobSession, OneHungUpHandshakeIsARestartThreeAreAWrongKey) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.on_handshake(0, Handshake::kHungUp, t0);
  (void)s.on_handshake(0, Handshake::kHungUp, t0);
  EXPECT_FALSE(s.gone(0));
  (void)s.on_handshake(0, Handshake::kHungUp, t0);
  EXPECT_TRUE(s.gone(0));
}

TEST(JobSession, AnAgentThatDoesNotReadIsDropped) {
  TwoReady t;
  (void)t.session.on_send_failed(0, t0 + 2s);
  EXPECT_TRUE(t.session.gone(0));
  EXPECT_FALSE(t.session.gone(1));
}

TEST(JobSession, AgentsBeyondTheLimitAreLeftOut) {
  SessionConfig c = config();
  c.max_agents = 2;
  JobSession s(c, t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  const Actions third = s.add_agent("c:1", "KEYC", t0);
  EXPECT_TRUE(s.gone(2));
  EXPECT_TRUE(sent<protocol::OpenJob>(third, 2).empty());
  EXPECT_NE(logs(third).find("the job has 2 agents already"), std::string::npos);
}

// The first agent ready renders on the CPU: a GPU agent is dropped unless mixing is allowed.
Actions gpu_agent_joins(JobSession& s) {
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  protocol::JobReady cpu = ready();
  cpu.agent.device = "CPU";
  (void)s.on_message(0, cpu, t0 + 1s);
  (void)s.frame_started(t0 + 1s);
  protocol::JobReady gpu = ready();
  gpu.agent.agent_id = "host/b";
  gpu.agent.device = "OPTIX: NVIDIA RTX A4000";
  return s.on_message(1, gpu, t0 + 1s);
}

TEST(JobSession, AGpuAgentIsNotMixedIntoACpuFrame) {
  JobSession s(config(), t0);
  const Actions out = gpu_agent_joins(s);
  EXPECT_TRUE(s.gone(1));
  EXPECT_TRUE(sent<protocol::RenderRegion>(out, 1).empty());
  EXPECT_NE(s.reports()[1].note.find("renders on OPTIX: NVIDIA RTX A4000, the frame on CPU agents"), std::string::npos)
      << s.reports()[1].note;
  EXPECT_NE(s.reports()[1].note.find("--allow-mixed-devices"), std::string::npos);
  EXPECT_EQ(s.reports()[1].device, "OPTIX: NVIDIA RTX A4000");
}

TEST(JobSession, AllowMixedDevicesUsesTheGpuAgentToo) {
  SessionConfig c = config();
  c.allow_mixed_devices = true;
  JobSession s(std::move(c), t0);
  const Actions out = gpu_agent_joins(s);
  EXPECT_FALSE(s.gone(1));
  EXPECT_EQ(sent<protocol::RenderRegion>(out, 1).size(), 2U);
}

TEST(JobSession, ClosingSendsCloseJobToEveryAgentStillThere) {
  TwoReady t;
  (void)t.session.on_send_failed(0, t0 + 2s);
  const Actions out = t.session.close(/*discard=*/true);
  EXPECT_TRUE(sent<protocol::CloseJob>(out, 0).empty());
  ASSERT_EQ(sent<protocol::CloseJob>(out, 1).size(), 1U);
  EXPECT_TRUE(sent<protocol::CloseJob>(out, 1)[0].discard);
}


TEST(JobSession, AfterAReconnectTheRegionsInFlightAreAskedForAgain) {
  TwoReady t;
  (void)t.session.on_handshake(0, Handshake::kSucceeded, t0);
  const std::vector<protocol::RenderRegion> asked = sent<protocol::RenderRegion>(t.first_ready, 0);
  (void)t.session.on_handshake(0, Handshake::kConnected, t0 + 5s);
  const Actions again = t.session.on_handshake(0, Handshake::kSucceeded, t0 + 5s);
  const std::vector<protocol::RenderRegion> resent = sent<protocol::RenderRegion>(again, 0);
  ASSERT_EQ(resent.size(), asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i) {
    EXPECT_EQ(resent[i].region_id, asked[i].region_id);
    EXPECT_EQ(resent[i].rect, asked[i].rect);
  }
  EXPECT_TRUE(sent<protocol::RenderRegion>(again, 1).empty());
}

TEST(JobSession, ABrokenTransferIsStartedAgainTwiceThenTheAgentIsDropped) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  for (int retry = 1; retry <= 2; ++retry) {
    const auto now = t0 + std::chrono::seconds(10 * retry);
    (void)s.on_message(0, protocol::JobFailed{"j", "the broker stopped sending scene files", Code::kTransferBroken}, now);
    EXPECT_FALSE(s.gone(0));
    EXPECT_EQ(sent<protocol::OpenJob>(s.on_tick(now + 2s), 0).size(), 1U);
  }
  (void)s.on_message(0, protocol::JobFailed{"j", "the broker stopped sending scene files", Code::kTransferBroken}, t0 + 40s);
  EXPECT_TRUE(s.gone(0));
}

TEST(JobSession, SpooledRegionsAreMarkedDoneBeforeTheFirstAgentGetsAny) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  const Actions started = s.on_message(0, ready(), t0 + 1s);
  ASSERT_EQ(all<action::StartFrame>(started).size(), 1U);
  EXPECT_TRUE(sent<protocol::RenderRegion>(started, 0).empty());
  EXPECT_TRUE(s.mark_done({0, 0, 16, 8}));
  EXPECT_TRUE(s.mark_done({16, 0, 32, 8}));
  const Actions regions = s.frame_started(t0 + 1s);
  for (const protocol::RenderRegion& r : sent<protocol::RenderRegion>(regions, 0)) EXPECT_GE(r.rect.x0, 32);
  EXPECT_EQ(sent<protocol::RenderRegion>(regions, 0).size(), 2U);
}
TEST(JobSession, AgentsReadyOnAGuessedListingRenderAtOnceJudgedByTheFirst) {
  SessionConfig c = config();
  c.frame.reset();  // a guess knows no frame
  c.blender_version.clear();  // nor this machine's Blender
  JobSession s(c, t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  (void)s.add_agent("b:1", "KEYB", t0);
  (void)s.add_agent("c:1", "KEYC", t0);
  (void)s.add_agent("d:1", "KEYD", t0);
  // The first ready agent starts the frame and sets the version and frame the others match.
  ASSERT_EQ(all<action::StartFrame>(s.on_message(0, ready(), t0 + 1s)).size(), 1U);
  EXPECT_EQ(s.blender_version(), "3.4.1");
  EXPECT_EQ(sent<protocol::RenderRegion>(s.frame_started(t0 + 1s), 0).size(), 2U);
  protocol::JobReady other_version = ready();
  other_version.agent.blender_version = "4.2.0";
  other_version.agent.agent_id = "host/b";
  (void)s.on_message(1, other_version, t0 + 1s);
  EXPECT_TRUE(s.gone(1));
  EXPECT_NE(s.reports()[1].note.find("not 3.4.1"), std::string::npos) << s.reports()[1].note;
  protocol::JobReady other_frame = ready(/*width=*/128);
  other_frame.agent.agent_id = "host/c";
  (void)s.on_message(2, other_frame, t0 + 1s);
  EXPECT_TRUE(s.gone(2));
  EXPECT_NE(s.reports()[2].note.find("another frame (128x8)"), std::string::npos) << s.reports()[2].note;

  // The listing agrees (the shell checked): the version stays, and agents still match it.
  s.confirm_scene(FrameFacts{64, 8, {}, {}}, "3.4.1");
  EXPECT_EQ(s.blender_version(), "3.4.1");
  protocol::JobReady late = ready();
  late.agent.agent_id = "host/d";
  EXPECT_FALSE(sent<protocol::RenderRegion>(s.on_message(3, late, t0 + 2s), 3).empty());
  EXPECT_FALSE(s.gone(3));
}

TEST(JobSession, WithoutAGuessAgentsAreReadyAtOnce) {
  JobSession s(config(), t0);
  (void)s.add_agent("a:1", "KEYA", t0);
  EXPECT_EQ(all<action::StartFrame>(s.on_message(0, ready(), t0 + 1s)).size(), 1U);
}
}  // namespace
}  // namespace bnr::broker
