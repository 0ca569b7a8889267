#include "curve_keys.h"

#include <gtest/gtest.h>

#include <string>

namespace bnr::protocol {
namespace {

// Test vectors of ZeroMQ RFC 26 (CurveZMQ): a server's and a client's public key.
constexpr const char* kServerKey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kClientKey = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* kSecretKey = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

TEST(CurveKeys, AcceptsZ85KeysOfFortyCharacters) {
  EXPECT_TRUE(is_curve_key(kServerKey));
  EXPECT_TRUE(is_curve_key(kClientKey));
  EXPECT_TRUE(is_curve_key("0000000000000000000000000000000000000000"));
}

TEST(CurveKeys, RefusesOtherLengthsCharactersAndGroupsBeyond32Bits) {
  const std::string key = kServerKey;
  EXPECT_FALSE(is_curve_key(""));
  EXPECT_FALSE(is_curve_key(key.substr(0, 39)));
  EXPECT_FALSE(is_curve_key(key + "0"));
  for (const char bad : {' ', '"', '\'', '\\', ',', ';', '_', '`', '|', '~', '\n'}) {
    std::string k = key;
    k[7] = bad;
    EXPECT_FALSE(is_curve_key(k)) << "character " << static_cast<int>(bad);
  }
  // "#####" is 85^5 - 1 = 4437053124 > 2^32 - 1; "%nSc0" is exactly 2^32 - 1.
  EXPECT_FALSE(is_curve_key("#####" + key.substr(5)));
  EXPECT_TRUE(is_curve_key("%nSc0" + key.substr(5)));
  EXPECT_FALSE(is_curve_key("%nSc1" + key.substr(5)));
}

TEST(CurveKeys, ShortKeyAndShellQuoting) {
  EXPECT_EQ(short_key(kServerKey), "rq:rM>}U...");
  EXPECT_EQ(short_key("abc"), "abc");
  EXPECT_EQ(shell_quoted(kClientKey), std::string("'") + kClientKey + "'");
  EXPECT_EQ(shell_quoted("it's"), "'it'\\''s'");
}

TEST(CurveKeys, KeyFileRoundTripsAndSaysWhoseItIs) {
  const CurveKeyPair keys{kServerKey, kSecretKey};
  const std::string text = format_key_file(keys, "bnr-broker");
  EXPECT_NE(text.find("# bnr-broker's CURVE key pair"), std::string::npos) << text;
  std::string error = "stale";
  const auto parsed = parse_key_file(text, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, keys);
  EXPECT_EQ(error, "");
}

TEST(CurveKeys, KeyFileToleratesCommentsBlankLinesCrLfAndEqualsSignsInKeys) {
  // The first '=' separates: a Z85 key may itself contain '=' (and start with '#').
  const std::string text = std::string("\r\n# made by hand\r\n\r\n  secret-key=") + kSecretKey +
                           "\r\npublic-key =   =" + std::string(kServerKey).substr(1) + "\r\n";
  const auto parsed = parse_key_file(text, nullptr);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->secret_key, kSecretKey);
  EXPECT_EQ(parsed->public_key, "=" + std::string(kServerKey).substr(1));
}

TEST(CurveKeys, KeyFileProblemsAreOneLineWithTheLineNumber) {
  std::string error;
  EXPECT_FALSE(parse_key_file("", &error));
  EXPECT_EQ(error, "no public-key line");
  EXPECT_FALSE(parse_key_file(std::string("public-key = ") + kServerKey, &error));
  EXPECT_EQ(error, "no secret-key line");
  EXPECT_FALSE(parse_key_file(std::string("public-key = ") + kServerKey + "\npublic-key = " + kClientKey, &error));
  EXPECT_EQ(error, "line 2: public-key appears twice");
  EXPECT_FALSE(parse_key_file("# x\nsecret-key = short\n", &error));
  EXPECT_EQ(error, "line 2: secret-key is not a CURVE key (40 Z85 characters)");
  EXPECT_FALSE(parse_key_file("curve\n", &error));
  EXPECT_EQ(error.rfind("line 1: expected 'public-key = KEY' or 'secret-key = KEY', got 'curve'", 0), 0U) << error;
  EXPECT_FALSE(parse_key_file("public-key " + std::string(kServerKey) + "\n", &error));
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(CurveKeys, AuthorizedBrokersReadsKeysWithNotesAndSkipsComments) {
  const std::string text = std::string("# brokers allowed here\n\n") + kServerKey + "   alice's laptop  \n" +
                           "  " + kClientKey + "\n" + "# " + kSecretKey + " (revoked)\n" + kServerKey + " again\n";
  const AuthorizedKeys a = parse_authorized_keys(text);
  ASSERT_EQ(a.keys.size(), 2U);
  EXPECT_EQ(a.keys[0].key, kServerKey);
  EXPECT_EQ(a.keys[0].note, "alice's laptop");
  EXPECT_EQ(a.keys[1].key, kClientKey);
  EXPECT_EQ(a.keys[1].note, "");
  EXPECT_TRUE(a.problems.empty());
  EXPECT_NE(a.find(kClientKey), nullptr);
  EXPECT_EQ(a.find(kSecretKey), nullptr) << "a commented-out key is not authorized";
}

TEST(CurveKeys, NoKeyStartsWithAHashSignSoSuchLinesAreAlwaysComments) {
  // '#' is Z85 digit 84 and 84 * 85^4 > 2^32: no 32-bit group starts with it ('$' neither).
  for (const char first : {'#', '$'}) EXPECT_FALSE(is_curve_key(first + std::string(kServerKey).substr(1)));
  EXPECT_TRUE(is_curve_key("%0000" + std::string(kServerKey).substr(5)));
  const AuthorizedKeys a = parse_authorized_keys("#" + std::string(kServerKey).substr(1) + "\n#" + kClientKey + "\n");
  EXPECT_TRUE(a.keys.empty());
  EXPECT_TRUE(a.problems.empty());
}

TEST(CurveKeys, AuthorizedBrokersNamesLinesThatAreNotKeys) {
  const AuthorizedKeys a = parse_authorized_keys(std::string(kServerKey) + "\nssh-ed25519 AAAA bob\n" +
                                                 std::string(kServerKey).substr(0, 30) + "\n");
  ASSERT_EQ(a.keys.size(), 1U);
  ASSERT_EQ(a.problems.size(), 2U);
  EXPECT_EQ(a.problems[0], "line 2: 'ssh-ed25519' is not a broker's public key (40 Z85 characters); ignored");
  EXPECT_EQ(a.problems[1].rfind("line 3: ", 0), 0U) << a.problems[1];
}

TEST(CurveKeys, KnownAgentsReadsEndpointsAndAgentIdsWithSpaces) {
  const std::string text = std::string("# known\n\nendpoint ") + kServerKey + " 10.0.0.7:7300\n" + "agent " +
                           kClientKey + " host1/render node 2\n";
  const KnownAgents k = parse_known_agents(text);
  ASSERT_EQ(k.entries.size(), 2U);
  EXPECT_TRUE(k.problems.empty());
  const KnownAgent* e = k.find(KnownKind::kEndpoint, "10.0.0.7:7300");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->key, kServerKey);
  EXPECT_EQ(e->line, 3);
  const KnownAgent* id = k.find(KnownKind::kAgentId, "host1/render node 2");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->key, kClientKey);
  EXPECT_EQ(id->line, 4);
  EXPECT_EQ(k.find(KnownKind::kAgentId, "10.0.0.7:7300"), nullptr) << "kinds are separate";
}

TEST(CurveKeys, KnownAgentsFirstLineWinsAndBadLinesAreNamed) {
  const std::string text = std::string("endpoint ") + kServerKey + " h:1\nendpoint " + kClientKey + " h:1\n" +
                           "host h:2 " + kServerKey + "\nagent notakey x\nendpoint " + kServerKey + "\n";
  const KnownAgents k = parse_known_agents(text);
  ASSERT_EQ(k.entries.size(), 1U);
  EXPECT_EQ(k.entries[0].key, kServerKey);
  ASSERT_EQ(k.problems.size(), 3U);
  EXPECT_EQ(k.problems[0], "line 3: expected 'endpoint KEY HOST:PORT' or 'agent KEY ID'; ignored");
  EXPECT_EQ(k.problems[1], "line 4: 'notakey' is not an agent's public key; ignored");
  EXPECT_EQ(k.problems[2], "line 5: no HOST:PORT after the key; ignored");
}

TEST(CurveKeys, AppendingAKnownAgentStartsTheFileWithACommentAndKeepsWhatWasThere) {
  const std::string first = append_known_agent("", {KnownKind::kEndpoint, "10.0.0.7:7300", kServerKey, 0});
  EXPECT_EQ(first.rfind("# bnr-broker's known agents", 0), 0U) << first;
  const std::string second = append_known_agent("# mine\nendpoint " + std::string(kClientKey) + " a:1",
                                                {KnownKind::kAgentId, "host1/x y", kServerKey, 0});
  EXPECT_EQ(second, "# mine\nendpoint " + std::string(kClientKey) + " a:1\nagent " + kServerKey + " host1/x y\n");
  const KnownAgents k = parse_known_agents(append_known_agent(first, {KnownKind::kAgentId, "id", kClientKey, 0}));
  ASSERT_EQ(k.entries.size(), 2U);
  EXPECT_EQ(k.find(KnownKind::kEndpoint, "10.0.0.7:7300")->key, kServerKey);
  EXPECT_EQ(k.find(KnownKind::kAgentId, "id")->key, kClientKey);
}

TEST(CurveKeys, AnEntryThatIsNotOneLineIsNotAppended) {
  const std::string text = "# x\n";
  EXPECT_EQ(append_known_agent(text, {KnownKind::kAgentId, "evil\nendpoint", kServerKey, 0}), text);
  EXPECT_EQ(append_known_agent(text, {KnownKind::kAgentId, "  ", kServerKey, 0}), text);
  EXPECT_EQ(append_known_agent(text, {KnownKind::kAgentId, "id", "not a key", 0}), text);
}

}  // namespace
}  // namespace bnr::protocol
