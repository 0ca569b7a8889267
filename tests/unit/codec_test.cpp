#include "codec.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace bnr::protocol {
namespace {

Decoded decode_frames(const std::vector<std::string>& frames) {
  std::vector<std::string_view> views(frames.begin(), frames.end());
  return decode(views);
}

std::vector<std::string> frames_of(const Message& m, std::string bulk = {}) {
  const auto head = encode(m);
  return {head[0], head[1], std::move(bulk)};
}

std::string pack_header(const std::string& name, std::uint32_t version, std::uint32_t kind) {
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(name, version, kind));
  return {b.data(), b.size()};
}

TEST(Codec, EveryMessageKindRoundTrips) {
  SceneInfo scene;
  scene.width = 1001;
  scene.height = 333;
  scene.views = {"left", "right"};
  scene.view_suffixes = {"_L", "_R"};
  scene.stereo = "TOPBOTTOM";
  scene.margin = 4;
  const Rect rect{3, 0, 10, 2};
  const std::string hash(64, 'a');
  OpenJob open{"j1", "a scene.blend", true, false};
  open.files = {{"home/u/a scene.blend", 12, hash}, {"home/u/tex/wood.png", 99, std::string(64, 'b')}};
  const std::vector<std::pair<Message, std::string>> messages = {
      {open, ""},
      {JobReady{"j1", {"host", "host:7300", 2, "3.4.1", "CUDA: NVIDIA T4"}, scene}, ""},
      {JobFailed{"j1", "Blender said no"}, ""},
      {RenderRegion{"j1", 7, rect}, ""},
      {RegionDone{"j1", 7, rect, 2, false, 1.5}, std::string(region_payload_bytes(rect, 2, false), 'x')},
      {RegionFailed{"j1", 7, "boom"}, ""},
      {Heartbeat{"j1"}, ""},
      {CloseJob{"j1"}, ""},
      {Refused{"busy"}, ""},
      {CancelRegion{"j1", 7}, ""},
      {FetchChunk{"j1", hash, 4096, 1024}, ""},
      {FileChunk{"j1", hash, 4096}, "some bytes"},
  };
  for (const auto& [message, bulk] : messages) {
    const auto frames = frames_of(message, bulk);
    const Decoded d = decode_frames(frames);
    ASSERT_TRUE(d.packet) << kind_name(message) << ": " << d.error;
    EXPECT_EQ(d.packet->message.index(), message.index());
    EXPECT_EQ(d.packet->bulk, bulk);
  }
  const Decoded ready = decode_frames(frames_of(messages[1].first));
  const auto& got = std::get<JobReady>(ready.packet->message);
  EXPECT_EQ(got.scene.width, 1001);
  EXPECT_EQ(got.scene.views, scene.views);
  EXPECT_EQ(got.scene.stereo, "TOPBOTTOM");
  const Decoded open_decoded = decode_frames(frames_of(open));
  const auto& got_open = std::get<OpenJob>(open_decoded.packet->message);
  ASSERT_EQ(got_open.files.size(), 2U);
  EXPECT_EQ(got_open.files[1].path, "home/u/tex/wood.png");
  EXPECT_EQ(got_open.files[1].size, 99U);
  EXPECT_EQ(got.agent.blender_version, "3.4.1");
  EXPECT_EQ(got.agent.device, "CUDA: NVIDIA T4");
}

TEST(Codec, WrongFrameCountIsRejected) {
  auto frames = frames_of(Heartbeat{"j"});
  frames.pop_back();
  EXPECT_FALSE(decode_frames(frames).packet);
  frames.push_back("");
  frames.push_back("");
  EXPECT_FALSE(decode_frames(frames).packet);
  EXPECT_FALSE(decode_frames({}).packet);
}

TEST(Codec, OtherProtocolVersionIsRejectedWithItsNumber) {
  auto frames = frames_of(Heartbeat{"j"});
  frames[0] = pack_header(kProtocolName, kProtocolVersion + 1, 7);
  const Decoded d = decode_frames(frames);
  EXPECT_FALSE(d.packet);
  EXPECT_NE(d.error.find("protocol version " + std::to_string(kProtocolVersion + 1)), std::string::npos);
}

TEST(Codec, ForeignProtocolNameAndUnknownKindsAreRejected) {
  auto frames = frames_of(Heartbeat{"j"});
  frames[0] = pack_header("http", kProtocolVersion, 7);
  EXPECT_FALSE(decode_frames(frames).packet);
  for (std::uint32_t kind : {0U, 11U, 255U, 0xFFFFFFFFU}) {
    frames[0] = pack_header(kProtocolName, kProtocolVersion, kind);
    EXPECT_FALSE(decode_frames(frames).packet) << kind;
  }
}

TEST(Codec, GarbageAndTruncatedBytesAreRejectedNotThrown) {
  const auto good = frames_of(JobReady{"j", {}, SceneInfo{.width = 4, .height = 4}});
  for (std::size_t cut = 0; cut < good[1].size(); ++cut) {
    auto frames = good;
    frames[1].resize(cut);
    EXPECT_FALSE(decode_frames(frames).packet) << "cut at " << cut;
  }
  for (std::size_t cut = 0; cut < good[0].size(); ++cut) {
    auto frames = good;
    frames[0].resize(cut);
    EXPECT_FALSE(decode_frames(frames).packet) << "header cut at " << cut;
  }
  std::string noise;
  for (int i = 0; i < 512; ++i) noise += static_cast<char>((i * 7919) & 0xFF);
  EXPECT_FALSE(decode_frames({noise, noise, noise}).packet);
}

TEST(Codec, WronglyTypedBodyIsRejected) {
  auto frames = frames_of(RenderRegion{"j", 1, {0, 0, 1, 1}});
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(std::string("j"), std::string("not a number"), 3));
  frames[1] = std::string(b.data(), b.size());
  EXPECT_FALSE(decode_frames(frames).packet);
}

TEST(Codec, HugeDeclaredLengthsAreRefusedBeforeAllocating) {
  auto frames = frames_of(Heartbeat{"j"});
  // array32 claiming 4 billion elements, then nothing.
  frames[1] = std::string("\xdd\xff\xff\xff\xff", 5);
  EXPECT_FALSE(decode_frames(frames).packet);
  // str32 claiming 4 GiB.
  frames[1] = std::string("\x91\xdb\xff\xff\xff\xf0", 6);
  EXPECT_FALSE(decode_frames(frames).packet);
  // A deep nest of arrays.
  frames[1] = std::string(100, '\x91');
  EXPECT_FALSE(decode_frames(frames).packet);
}

TEST(Codec, PixelPayloadMustMatchTheRectangle) {
  const Rect rect{0, 0, 5, 3};
  const RegionDone done{"j", 1, rect, 1, true, 0.1};
  const std::uint64_t right = region_payload_bytes(rect, 1, true);
  EXPECT_EQ(right, 5U * 3 * 4 * 2 + 5U * 3 * 4 * 4);
  EXPECT_TRUE(decode_frames(frames_of(done, std::string(right, '\0'))).packet);
  EXPECT_FALSE(decode_frames(frames_of(done, std::string(right - 1, '\0'))).packet);
  EXPECT_FALSE(decode_frames(frames_of(done, std::string(right + 1, '\0'))).packet);
}

TEST(Codec, InvalidRectanglesAndSizesAreRejected) {
  for (const Rect& r : {Rect{5, 0, 5, 1}, Rect{0, 0, -1, 1}, Rect{-1, 0, 2, 2}, Rect{0, 0, kMaxImageSide + 1, 1}})
    EXPECT_FALSE(decode_frames(frames_of(RenderRegion{"j", 1, r})).packet);
  EXPECT_FALSE(decode_frames(frames_of(JobReady{"j", {}, SceneInfo{.width = 0, .height = 4}})).packet);
  EXPECT_FALSE(decode_frames(frames_of(JobReady{"j", {}, SceneInfo{.width = 4, .height = 4, .depth = 12}})).packet);
  EXPECT_FALSE(decode_frames(frames_of(RegionDone{"j", 1, {0, 0, 1, 1}, 0, false, 0})).packet);
  EXPECT_FALSE(decode_frames(frames_of(OpenJob{"j", "s", false, false})).packet);  // no files
}

TEST(Codec, SceneTransferMessagesWithBadHashesOrSizesAreRejected) {
  const std::string hash(64, 'c');
  OpenJob open{"j", "s", false, false};
  open.files = {{"a/s.blend", 1, hash}};
  EXPECT_TRUE(decode_frames(frames_of(open)).packet);
  EXPECT_FALSE(decode_frames(frames_of(open, "stray bulk")).packet);
  open.main_file = 1;
  EXPECT_FALSE(decode_frames(frames_of(open)).packet);  // main file out of range
  open.main_file = 0;
  open.files[0].hash = std::string(64, 'C');            // upper-case is not our hash format
  EXPECT_FALSE(decode_frames(frames_of(open)).packet);
  open.files[0].hash = hash;
  open.files[0].path.clear();
  EXPECT_FALSE(decode_frames(frames_of(open)).packet);
  EXPECT_FALSE(decode_frames(frames_of(FetchChunk{"j", hash, 0, 0})).packet);
  EXPECT_FALSE(decode_frames(frames_of(FetchChunk{"j", hash, 0, kMaxChunkBytes + 1})).packet);
  EXPECT_FALSE(decode_frames(frames_of(FetchChunk{"j", "../../etc/passwd", 0, 10})).packet);
  EXPECT_FALSE(decode_frames(frames_of(FileChunk{"j", hash, 0}, "")).packet);
  EXPECT_FALSE(decode_frames(frames_of(FileChunk{"j", hash, 0}, std::string(kMaxChunkBytes + 1, 'x'))).packet);
}

TEST(Codec, OpenJobFingerprintIsEmptyOrAContentHash) {
  OpenJob open{"j", "s", false, false};
  open.files = {{"a/s.blend", 1, std::string(64, 'c')}};
  EXPECT_TRUE(decode_frames(frames_of(open)).packet) << "an older broker sends none";
  open.fingerprint = std::string(64, 'd');
  const Decoded d = decode_frames(frames_of(open));
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_EQ(std::get<OpenJob>(d.packet->message).fingerprint, open.fingerprint);
  open.fingerprint = "not-a-hash";
  EXPECT_FALSE(decode_frames(frames_of(open)).packet);
}

TEST(Codec, MessagesFromAPeerBeforeTheAppendedFieldsKeepTheirDefaults) {
  // An OpenJob as a broker without fingerprints packs it: eight fields.
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(std::string("j"), std::string("s"), false, false, false, 1,
                                   std::vector<SceneFile>{{"a/s.blend", 1, std::string(64, 'c')}}, 0U));
  auto frames = frames_of(OpenJob{});
  frames[1] = std::string(b.data(), b.size());
  const Decoded open = decode_frames(frames);
  ASSERT_TRUE(open.packet) << open.error;
  EXPECT_TRUE(std::get<OpenJob>(open.packet->message).fingerprint.empty());
  // A CloseJob with its job id only keeps the Blender warm.
  msgpack::sbuffer c;
  msgpack::pack(c, std::make_tuple(std::string("j")));
  frames = frames_of(CloseJob{});
  frames[1] = std::string(c.data(), c.size());
  const Decoded close = decode_frames(frames);
  ASSERT_TRUE(close.packet) << close.error;
  EXPECT_FALSE(std::get<CloseJob>(close.packet->message).discard);
}

TEST(Codec, AgentInfoFromAnAgentBeforeDevicesHasNoDevice) {
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(std::string("j"), std::make_tuple(std::string("h"), std::string("h/a"), 2,
                                                                     std::string("3.4.1")),
                                   SceneInfo{.width = 4, .height = 4}, SceneTransfer{}));
  auto frames = frames_of(JobReady{});
  frames[1] = std::string(b.data(), b.size());
  const Decoded d = decode_frames(frames);
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_EQ(std::get<JobReady>(d.packet->message).agent.blender_version, "3.4.1");
  EXPECT_EQ(std::get<JobReady>(d.packet->message).agent.device, "");
}

TEST(Codec, JobReadySaysWhetherTheBlenderWasWarmAndTheJobTakenOver) {
  SceneTransfer t;
  t.warm_blender = true;
  t.took_over = true;
  const Decoded d = decode_frames(frames_of(JobReady{"j", {}, SceneInfo{.width = 4, .height = 4}, t}));
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_TRUE(std::get<JobReady>(d.packet->message).transfer.warm_blender);
  EXPECT_TRUE(std::get<JobReady>(d.packet->message).transfer.took_over);
}

TEST(Codec, FieldsAppendedByANewerPeerAreIgnored) {
  auto frames = frames_of(Heartbeat{"j"});
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(std::string("job"), 42, std::string("future field")));
  frames[1] = std::string(b.data(), b.size());
  const Decoded d = decode_frames(frames);
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_EQ(std::get<Heartbeat>(d.packet->message).job_id, "job");
}

TEST(Codec, ARefusalCarriesTheAgentAndAnOlderAgentsRefusalStillDecodes) {
  const Decoded d = decode_frames(frames_of(Refused{"no open job", Code::kNoJob, {"host", "host/1", 2, "3.4.1", "CPU"}}));
  ASSERT_TRUE(d.packet) << d.error;
  EXPECT_EQ(std::get<Refused>(d.packet->message).agent.device, "CPU");
  EXPECT_EQ(std::get<Refused>(d.packet->message).agent.blender_version, "3.4.1");
  // From an agent older than the agent field: reason and code only.
  auto frames = frames_of(Refused{});
  msgpack::sbuffer b;
  msgpack::pack(b, std::make_tuple(std::string("busy"), Code::kBusy));
  frames[1] = std::string(b.data(), b.size());
  const Decoded old = decode_frames(frames);
  ASSERT_TRUE(old.packet) << old.error;
  EXPECT_EQ(std::get<Refused>(old.packet->message).reason, "busy");
  EXPECT_EQ(std::get<Refused>(old.packet->message).agent.device, "");
}

TEST(Codec, FailureCodesRoundTripAndUnknownCodesAreRejected) {
  const Decoded ok = decode_frames(frames_of(JobFailed{"j1", "no room", Code::kDiskFull}));
  ASSERT_TRUE(ok.packet) << ok.error;
  EXPECT_EQ(std::get<JobFailed>(ok.packet->message).code, Code::kDiskFull);
  const Decoded busy = decode_frames(frames_of(Refused{"busy", Code::kBusy}));
  ASSERT_TRUE(busy.packet) << busy.error;
  EXPECT_EQ(std::get<Refused>(busy.packet->message).code, Code::kBusy);
  const auto unknown = static_cast<Code>(static_cast<int>(Code::kLast) + 1);
  for (const Message& m : {Message{JobFailed{"j1", "x", unknown}}, Message{RegionFailed{"j1", 1, "x", unknown}},
                           Message{Refused{"x", unknown}}}) {
    const Decoded d = decode_frames(frames_of(m));
    EXPECT_FALSE(d.packet) << kind_name(m);
    EXPECT_NE(d.error.find("unknown code"), std::string::npos) << d.error;
  }
}

TEST(Codec, OnlySceneRefusalsAreTheScenesFault) {
  EXPECT_FALSE(is_agent_fault(Code::kSceneRefused));
  for (Code c : {Code::kUnspecified, Code::kBlenderFailed, Code::kStalled, Code::kCacheLimit, Code::kDiskFull,
                 Code::kOutOfMemory, Code::kTransferBroken})
    EXPECT_TRUE(is_agent_fault(c));
}

}  // namespace
}  // namespace bnr::protocol
