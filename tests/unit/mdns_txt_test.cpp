#include "mdns_txt.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace bnr::protocol {
namespace {

// A TXT record from its strings, each given its length byte.
std::string record(std::initializer_list<std::string> entries) {
  std::string r;
  for (const std::string& e : entries) {
    r.push_back(static_cast<char>(e.size()));
    r += e;
  }
  return r;
}

AgentInfo sample_info() {
  AgentInfo info;
  info.name = "render-07";
  info.agent_id = "5f0c1e2d";
  info.threads = 16;
  info.blender_version = "3.4.1";
  return info;
}

TEST(MdnsTxt, EncodedRecordParsesBackWithTheProtocolVersion) {
  const AgentTxt txt = parse_agent_txt(encode_agent_txt(sample_info()));
  EXPECT_EQ(txt.protocol_version, kProtocolVersion);
  EXPECT_EQ(txt.info.name, "render-07");
  EXPECT_EQ(txt.info.agent_id, "5f0c1e2d");
  EXPECT_EQ(txt.info.threads, 16);
  EXPECT_EQ(txt.info.blender_version, "3.4.1");
}

TEST(MdnsTxt, EncodesOneLengthPrefixedKeyValuePerField) {
  EXPECT_EQ(encode_agent_txt(sample_info(), 7),
            record({"proto=7", "blender=3.4.1", "threads=16", "name=render-07", "id=5f0c1e2d"}));
}

TEST(MdnsTxt, TheAgentsCurveKeyIsAppendedAndParsedBack) {
  // Z85 keys contain '=' and other punctuation: the first '=' of the entry separates.
  const std::string key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7=";
  const std::string encoded = encode_agent_txt(sample_info(), 7, key);
  EXPECT_EQ(encoded, record({"proto=7", "blender=3.4.1", "threads=16", "name=render-07", "id=5f0c1e2d", "key=" + key}));
  const AgentTxt txt = parse_agent_txt(encoded);
  EXPECT_EQ(txt.curve_key, key);
  EXPECT_EQ(txt.info.agent_id, "5f0c1e2d");
  EXPECT_EQ(parse_agent_txt(encode_agent_txt(sample_info())).curve_key, "") << "an agent from before CURVE";
}

TEST(MdnsTxt, TheDeviceBlenderRendersOnIsAppendedAndParsedBack) {
  AgentInfo info = sample_info();
  info.device = "OPTIX: NVIDIA RTX A4000";
  const std::string encoded = encode_agent_txt(info, 7);
  EXPECT_EQ(encoded, record({"proto=7", "blender=3.4.1", "threads=16", "name=render-07", "id=5f0c1e2d",
                             "device=OPTIX: NVIDIA RTX A4000"}));
  EXPECT_EQ(parse_agent_txt(encoded).info.device, "OPTIX: NVIDIA RTX A4000");
  EXPECT_EQ(parse_agent_txt(encode_agent_txt(sample_info())).info.device, "") << "an agent from before devices";
}

TEST(MdnsTxt, LongValuesAreCutToFitATxtStringAtACharacterBoundary) {
  AgentInfo info = sample_info();
  info.name.clear();
  for (int i = 0; i < 200; ++i) info.name += "\xC3\xA9";  // 400 bytes of 'é'
  const std::string encoded = encode_agent_txt(info);
  const AgentTxt txt = parse_agent_txt(encoded);
  EXPECT_EQ(txt.info.agent_id, "5f0c1e2d");  // the record stays well-formed after the cut
  EXPECT_LE(txt.info.name.size() + 5, 255U);
  EXPECT_EQ(txt.info.name.size() % 2, 0U);  // no half character
  EXPECT_EQ(txt.info.name, info.name.substr(0, txt.info.name.size()));
}

TEST(MdnsTxt, EmptyRecordGivesDefaults) {
  EXPECT_EQ(parse_agent_txt(""), AgentTxt{});
  // Avahi and Apple publish an empty TXT record as one empty string.
  EXPECT_EQ(parse_agent_txt(std::string(1, '\0')), AgentTxt{});
}

TEST(MdnsTxt, KeysIgnoreCaseAndTheFirstOccurrenceWins) {
  const AgentTxt txt = parse_agent_txt(record({"NAME=first", "name=second", "Threads=4", "threads=9"}));
  EXPECT_EQ(txt.info.name, "first");
  EXPECT_EQ(txt.info.threads, 4);
}

TEST(MdnsTxt, AKeyWithoutAValueStillClaimsTheKey) {
  const AgentTxt txt = parse_agent_txt(record({"name", "name=later"}));
  EXPECT_EQ(txt.info.name, "");
}

TEST(MdnsTxt, UnknownKeysAndEntriesWithoutAKeyAreIgnored) {
  const AgentTxt txt = parse_agent_txt(record({"=orphan", "gpu=yes", "", "id=abc"}));
  EXPECT_EQ(txt.info.agent_id, "abc");
  EXPECT_EQ(txt.info.name, "");
}

TEST(MdnsTxt, ValuesKeepEqualsSignsAndEmptyValues) {
  const AgentTxt txt = parse_agent_txt(record({"name=a=b", "blender="}));
  EXPECT_EQ(txt.info.name, "a=b");
  EXPECT_EQ(txt.info.blender_version, "");
}

TEST(MdnsTxt, BadNumbersLeaveTheDefault) {
  for (const char* bad : {"-1", "4x", "", " 4", "99999999999999999999", "65536"}) {
    const AgentTxt txt = parse_agent_txt(record({std::string("threads=") + bad, std::string("proto=") + bad}));
    EXPECT_EQ(txt.info.threads, 0) << bad;
    if (std::string(bad) != "65536") {
      EXPECT_EQ(txt.protocol_version, 0U) << bad;
    }
  }
  EXPECT_EQ(parse_agent_txt(record({"proto=4294967295"})).protocol_version, 4294967295U);
  EXPECT_EQ(parse_agent_txt(record({"proto=4294967296"})).protocol_version, 0U);
  EXPECT_EQ(parse_agent_txt(record({"threads=65535"})).info.threads, 65535);
}

TEST(MdnsTxt, ALengthRunningPastTheEndEndsTheRecord) {
  std::string r = record({"name=ok", "id=abc"});
  r.push_back(static_cast<char>(40));
  r += "blender=3.4";  // claims 40 bytes, has 11
  const AgentTxt txt = parse_agent_txt(r);
  EXPECT_EQ(txt.info.name, "ok");
  EXPECT_EQ(txt.info.agent_id, "abc");
  EXPECT_EQ(txt.info.blender_version, "");
}

TEST(MdnsTxt, BytesAreKeptAsTheyCame) {
  const AgentTxt txt = parse_agent_txt(record({std::string("name=a\0b", 8)}));
  EXPECT_EQ(txt.info.name, std::string("a\0b", 3));
}

}  // namespace
}  // namespace bnr::protocol
