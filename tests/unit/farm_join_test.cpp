#include "farm_join.h"

#include <gtest/gtest.h>

#include <string>

#include "curve_auth.h"
#include "farm_files.h"
#include "mdns_txt.h"
#include "temp_dir.h"

namespace bnr::protocol {
namespace {

JoinToken sample_token() { return {make_key_pair().public_key, make_farm_secret()}; }

std::string decode_error(const std::string& text) {
  std::string error;
  EXPECT_FALSE(decode_join_token(text, &error).has_value()) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << "one line";
  return error;
}

TEST(JoinToken, RoundTripsAsOneShellSafeWordWithItsPrefix) {
  const JoinToken token = sample_token();
  const std::string text = encode_join_token(token);
  ASSERT_EQ(text.size(), kJoinTokenChars);
  EXPECT_EQ(text.rfind(kJoinTokenPrefix, 0), 0U);
  for (const char c : text.substr(kJoinTokenPrefix.size()))
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << c;
  std::string error = "stale";
  const auto back = decode_join_token("  " + text + "\n", &error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_EQ(*back, token);
  EXPECT_EQ(error, "");
}

TEST(JoinToken, UpperCaseIsTheSameToken) {
  const JoinToken token = sample_token();
  std::string text = encode_join_token(token);
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto back = decode_join_token(text, nullptr);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, token);
}

TEST(JoinToken, EveryMistypedCharacterIsABadChecksum) {
  const std::string text = encode_join_token(sample_token());
  for (std::size_t i = kJoinTokenPrefix.size(); i < text.size(); ++i) {
    std::string typo = text;
    typo[i] = typo[i] == 'a' ? 'b' : 'a';
    EXPECT_NE(decode_error(typo).find("checksum does not match: a character was mistyped"), std::string::npos)
        << "character " << i;
  }
}

TEST(JoinToken, TwoSwappedNeighboursAreABadChecksum) {
  const std::string text = encode_join_token(sample_token());
  int swaps = 0;
  for (std::size_t i = kJoinTokenPrefix.size(); i + 1 < text.size(); ++i) {
    if (text[i] == text[i + 1]) continue;
    std::string swapped = text;
    std::swap(swapped[i], swapped[i + 1]);
    EXPECT_NE(decode_error(swapped).find("checksum does not match"), std::string::npos) << i;
    ++swaps;
  }
  EXPECT_GT(swaps, 50);
}

TEST(JoinToken, AWrongPrefixSaysItIsNotAJoinToken) {
  const std::string text = encode_join_token(sample_token());
  EXPECT_NE(decode_error("bnrjoin2_" + text.substr(kJoinTokenPrefix.size())).find("not a bnr join token"),
            std::string::npos);
  EXPECT_NE(decode_error(make_key_pair().public_key).find("should start with bnrjoin1_"), std::string::npos)
      << "a broker key pasted instead of a token";
  EXPECT_NE(decode_error("").find("not a bnr join token"), std::string::npos);
}

TEST(JoinToken, ATruncatedOrRunOnTokenSaysSo) {
  const std::string text = encode_join_token(sample_token());
  EXPECT_NE(decode_error(text.substr(0, text.size() - 1)).find("cut off"), std::string::npos);
  EXPECT_NE(decode_error(text.substr(0, 40)).find("has 40 characters, not " + std::to_string(kJoinTokenChars)),
            std::string::npos);
  EXPECT_NE(decode_error(text + "a").find("run together"), std::string::npos);
}

TEST(JoinToken, ACharacterOutsideBase32IsNamedWithItsPlace) {
  std::string text = encode_join_token(sample_token());
  text[20] = '1';  // base32 has no 0, 1, 8, 9: they look like o, l, b, g
  EXPECT_NE(decode_error(text).find("'1' at character 21"), std::string::npos);
}

TEST(JoinToken, FieldsThatAreNotKeysEncodeToNothing) {
  EXPECT_EQ(encode_join_token({"short", make_farm_secret()}), "");
  EXPECT_EQ(encode_join_token({make_key_pair().public_key, ""}), "");
}

TEST(FarmProof, OnlyTheSecretsHolderCanVouchForAKey) {
  const std::string secret = make_farm_secret();
  const std::string key = make_key_pair().public_key;
  const std::string proof = farm_proof(secret, key);
  ASSERT_EQ(proof.size(), 40U);
  EXPECT_TRUE(proves_farm(proof, secret, key));
  EXPECT_FALSE(proves_farm(proof, make_farm_secret(), key)) << "another farm's secret";
  EXPECT_FALSE(proves_farm(proof, secret, make_key_pair().public_key)) << "a copied proof beside another key";
  EXPECT_FALSE(proves_farm(farm_proof(make_farm_secret(), key), secret, key)) << "a proof for another farm";
  EXPECT_FALSE(proves_farm("", secret, key));
  EXPECT_FALSE(proves_farm(proof, "", key)) << "a broker with no farm";
  EXPECT_FALSE(proves_farm("not a proof", secret, key));
  EXPECT_EQ(farm_proof(secret, key), proof) << "deterministic: the advert need not change";
}

TEST(FarmProof, AnAdvertCarriesOneProofPerFarmAndAnyOfThemCounts) {
  const std::string key = make_key_pair().public_key;
  std::vector<JoinToken> farms;
  for (std::size_t i = 0; i < kMaxJoinedFarms + 2; ++i) farms.push_back(sample_token());
  const std::string proofs = join_proofs(farms, key);
  EXPECT_TRUE(join_proofs_well_formed(proofs)) << proofs;
  for (std::size_t i = 0; i < kMaxJoinedFarms; ++i) EXPECT_TRUE(proves_farm(proofs, farms[i].farm_secret, key)) << i;
  EXPECT_FALSE(proves_farm(proofs, farms.back().farm_secret, key)) << "beyond what one TXT string holds";
  EXPECT_EQ(join_proofs({}, key), "");
}

TEST(FarmProof, TheAdvertsJoinFieldRoundTripsAndMalformedOnesAreDropped) {
  const std::string key = make_key_pair().public_key;
  const std::string proofs = join_proofs({sample_token(), sample_token()}, key);
  AgentInfo info;
  info.name = "render-07";
  const std::string record = encode_agent_txt(info, kProtocolVersion, key, proofs);
  EXPECT_EQ(parse_agent_txt(record).join_proofs, proofs);
  std::vector<JoinToken> most;
  for (std::size_t i = 0; i < kMaxJoinedFarms; ++i) most.push_back(sample_token());
  const std::string longest = join_proofs(most, key);
  EXPECT_EQ(parse_agent_txt(encode_agent_txt(info, kProtocolVersion, key, longest)).join_proofs, longest)
      << "the most proofs an advert carries fit in one TXT string";
  for (const std::string& bad : {std::string("x"), proofs + ",", "," + proofs, proofs.substr(0, 39),
                                std::string(7 * 41 - 1, '0'), proofs + " " + proofs}) {
    const std::string r = encode_agent_txt(info, kProtocolVersion, key, bad);
    EXPECT_EQ(parse_agent_txt(r).join_proofs, "") << bad;
    EXPECT_EQ(parse_agent_txt(r).curve_key, key);
  }
}

TEST(JoinedFarms, ParsesItsOwnFormatAndNamesBadLines) {
  const JoinToken a = sample_token();
  const JoinToken b = sample_token();
  const std::string text = format_joined_farms({a, b}) + "garbage here\n" + a.broker_key + " " +
                           make_farm_secret() + "\n" + b.broker_key + "\n";
  const JoinedFarms farms = parse_joined_farms(text);
  EXPECT_EQ(farms.farms, (std::vector<JoinToken>{a, b})) << "a second line for a broker is ignored";
  ASSERT_EQ(farms.problems.size(), 2U);
  EXPECT_EQ(farms.problems[0].rfind("line 5: ", 0), 0U) << farms.problems[0];
}

TEST(JoinedFarms, JoiningAgainReplacesThatBrokersFarmAndKeepsTheNewestFew) {
  const JoinToken a = sample_token();
  const JoinToken b = sample_token();
  const JoinToken a2{a.broker_key, make_farm_secret()};
  EXPECT_EQ(with_joined({a, b}, a2), (std::vector<JoinToken>{a2, b}));
  std::vector<JoinToken> many;
  for (std::size_t i = 0; i < kMaxJoinedFarms; ++i) many.push_back(sample_token());
  const std::vector<JoinToken> joined = with_joined(many, a);
  ASSERT_EQ(joined.size(), kMaxJoinedFarms);
  EXPECT_EQ(joined.front(), a);
  EXPECT_EQ(joined.back(), many[kMaxJoinedFarms - 2]);
}

TEST(JoinFarm, AuthorizesTheBrokerOnceAndKeepsTheSecretPrivate) {
  const tools::TempDir dir("bnr-join-test");
  replace_text_file(dir.path() / "authorized_brokers", "# mine\nnot-a-key\n", 0644);
  const JoinToken token = sample_token();
  JoinResult r = join_farm(dir.path(), token);
  EXPECT_TRUE(r.newly_authorized);
  EXPECT_FALSE(r.already_joined);
  r = join_farm(dir.path(), token);
  EXPECT_FALSE(r.newly_authorized);
  EXPECT_TRUE(r.already_joined);
  const AuthorizedKeys brokers = parse_authorized_keys(read_text_file(dir.path() / "authorized_brokers").value());
  ASSERT_EQ(brokers.keys.size(), 1U);
  EXPECT_EQ(brokers.keys[0].key, token.broker_key);
  EXPECT_EQ(brokers.problems.size(), 1U) << "the user's lines stay";
  EXPECT_EQ(read_joined_farms(dir.path() / "joined_farms").farms, std::vector<JoinToken>{token});
  EXPECT_EQ(std::filesystem::status(dir.path() / "joined_farms").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// '=' is a Z85 character; a secret that begins with one (about 1 in 85) once failed to read
// back, and a test broker refused its own farm.secret.
TEST(FarmSecret, ASecretBeginningWithEqualsOrSpacedAnyWayReadsBack) {
  const tools::TempDir dir("bnr-farm-secret-equals");
  const auto path = dir.path() / "farm.secret";
  std::string secret = make_farm_secret();
  secret.front() = '=';
  ASSERT_TRUE(is_farm_secret(secret)) << "a Z85 secret may begin with '='";
  for (const std::string& line : {"farm-secret = " + secret, "farm-secret=" + secret, "farm-secret  =  " + secret + " \r"}) {
    replace_text_file(path, "# comment\n" + line + "\n", 0600);
    EXPECT_EQ(read_farm_secret(path), secret) << line;
  }
  replace_text_file(path, "farm-secret " + secret + "\n", 0600);
  EXPECT_THROW((void)read_farm_secret(path), std::runtime_error) << "no '='";
}

TEST(FarmSecret, IsMadeOnceWithMode0600AndABrokenFileIsAClearError) {
  const tools::TempDir dir("bnr-farm-secret-test");
  const auto path = dir.path() / "sub" / "farm.secret";
  EXPECT_EQ(read_farm_secret(path), std::nullopt);
  const std::string secret = load_or_create_farm_secret(path);
  EXPECT_TRUE(is_farm_secret(secret));
  EXPECT_EQ(load_or_create_farm_secret(path), secret);
  EXPECT_EQ(read_farm_secret(path), secret);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  replace_text_file(path, "farm-secret = nonsense\n", 0600);
  try {
    (void)read_farm_secret(path);
    ADD_FAILURE() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no valid 'farm-secret = SECRET' line"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bnr::protocol

namespace bnr::protocol {
namespace {

TEST(JoinedFarmsFile, ReportsTheFarmsOnceAndAgainOnlyAfterAJoin) {
  const tools::TempDir dir("bnr-joined-watch-test");
  JoinedFarmsFile file(dir.path() / "joined_farms");
  const auto first = file.changed();
  ASSERT_TRUE(first.has_value()) << "the first call reads the file, missing or not";
  EXPECT_TRUE(first->farms.empty());
  EXPECT_FALSE(file.changed().has_value());
  const JoinToken token{make_key_pair().public_key, make_farm_secret()};
  (void)join_farm(dir.path(), token);
  const auto joined = file.changed();
  ASSERT_TRUE(joined.has_value());
  EXPECT_EQ(joined->farms, std::vector<JoinToken>{token});
  EXPECT_FALSE(file.changed().has_value());
  std::filesystem::remove(dir.path() / "joined_farms");
  const auto left = file.changed();
  ASSERT_TRUE(left.has_value());
  EXPECT_TRUE(left->farms.empty());
}

}  // namespace
}  // namespace bnr::protocol
