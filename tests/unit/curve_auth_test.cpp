#include "curve_auth.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "temp_dir.h"

namespace bnr::protocol {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

unsigned permissions_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST(CurveAuth, ThisLibzmqHasCurve) { EXPECT_NO_THROW(require_curve()); }

TEST(CurveAuth, AKeyPairIsMadeOncePrivateAndThenReadBack) {
  tools::TempDir dir;
  const fs::path path = dir / "sub" / "broker.key";
  const CurveKeyPair made = load_or_create_key_pair(path, "bnr-broker");
  EXPECT_TRUE(is_curve_key(made.public_key));
  EXPECT_TRUE(is_curve_key(made.secret_key));
  EXPECT_NE(made.public_key, made.secret_key);
  EXPECT_EQ(permissions_of(path), 0600U);
  EXPECT_EQ(load_or_create_key_pair(path, "bnr-broker"), made);
  // Nothing else is left next to it.
  int files = 0;
  for (const auto& e : fs::directory_iterator(path.parent_path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(CurveAuth, ProcessesStartingTogetherShareOneKeyPair) {
  tools::TempDir dir;
  const fs::path path = dir / "agent.key";
  std::vector<CurveKeyPair> got(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] { got[i] = load_or_create_key_pair(path, "bnr-agent"); });
  for (std::thread& t : threads) t.join();
  for (const CurveKeyPair& k : got) EXPECT_EQ(k, got.front());
}

TEST(CurveAuth, AKeyFileWhosePublicKeyIsNotTheSecretsIsRefused) {
  tools::TempDir dir;
  const CurveKeyPair a = make_key_pair();
  const CurveKeyPair b = make_key_pair();
  write_text(dir / "mixed.key", format_key_file({a.public_key, b.secret_key}, "bnr-agent"));
  try {
    (void)load_or_create_key_pair(dir / "mixed.key", "bnr-agent");
    FAIL() << "accepted a mismatched key pair";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("public-key is not the secret-key's"), std::string::npos) << e.what();
  }
  write_text(dir / "junk.key", "hello\n");
  EXPECT_THROW((void)load_or_create_key_pair(dir / "junk.key", "bnr-agent"), std::runtime_error);
}

TEST(CurveAuth, ReplacingATextFileLeavesNoTemporaryFile) {
  tools::TempDir dir;
  replace_text_file(dir / "known_agents", "one\n", 0644);
  replace_text_file(dir / "known_agents", "two\n", 0644);
  EXPECT_EQ(read_text_file(dir / "known_agents").value_or(""), "two\n");
  EXPECT_EQ(permissions_of(dir / "known_agents"), 0644U);
  EXPECT_FALSE(read_text_file(dir / "missing").has_value());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(CurveAuth, ConfigDirIsBnrConfigDirElseXdgElseHome) {
  {
    const ScopedEnv bnr("BNR_CONFIG_DIR", "/x/bnr-cfg");
    const ScopedEnv xdg("XDG_CONFIG_HOME", "/x/xdg");
    EXPECT_EQ(config_dir(), fs::path("/x/bnr-cfg"));
  }
  {
    const ScopedEnv bnr("BNR_CONFIG_DIR", nullptr);
    const ScopedEnv xdg("XDG_CONFIG_HOME", "/x/xdg");
    EXPECT_EQ(config_dir(), fs::path("/x/xdg/bnr"));
  }
  const ScopedEnv bnr("BNR_CONFIG_DIR", "");
  const ScopedEnv xdg("XDG_CONFIG_HOME", nullptr);
  const ScopedEnv home("HOME", "/x/home");
  EXPECT_EQ(config_dir(), fs::path("/x/home/.config/bnr"));
}

TEST(CurveAuth, BrokersAreAuthorizedByFlagOrByTheFileWhichIsReReadWhenItChanges) {
  tools::TempDir dir;
  const CurveKeyPair flag = make_key_pair();
  const CurveKeyPair listed = make_key_pair();
  const CurveKeyPair stranger = make_key_pair();
  BrokerAuthorizer auth({flag.public_key}, dir / "authorized_brokers", false);
  EXPECT_EQ(auth.count(), 1U);
  EXPECT_TRUE(auth.check(flag.public_key).allowed);
  EXPECT_EQ(auth.check(flag.public_key).source, "--authorize");
  EXPECT_FALSE(auth.check(listed.public_key).allowed) << "no file yet";

  write_text(dir / "authorized_brokers", "# ours\n" + listed.public_key + " render box\nnot-a-key\n");
  const BrokerAuthorizer::Verdict v = auth.check(listed.public_key);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.source, "authorized_brokers (render box)");
  EXPECT_FALSE(auth.check(stranger.public_key).allowed);
  const std::vector<std::string> problems = auth.take_problems();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("authorized_brokers line 3: 'not-a-key'"), std::string::npos) << problems[0];
  EXPECT_TRUE(auth.take_problems().empty()) << "each problem is told once";
  EXPECT_EQ(auth.count(), 2U);

  fs::remove(dir / "authorized_brokers");
  EXPECT_FALSE(auth.check(listed.public_key).allowed) << "a removed file authorizes nothing";
  EXPECT_TRUE(auth.check(flag.public_key).allowed);
}

TEST(CurveAuth, TrustAnyAcceptsEveryBroker) {
  tools::TempDir dir;
  BrokerAuthorizer auth({}, dir / "authorized_brokers", true);
  const BrokerAuthorizer::Verdict v = auth.check(make_key_pair().public_key);
  EXPECT_TRUE(v.allowed);
  EXPECT_EQ(v.source, "--trust-any");
}

TEST(CurveAuth, KnownAgentsAreRememberedOnceAndAChangedKeyIsAConflictNamingTheLine) {
  tools::TempDir dir;
  const fs::path path = dir / "known_agents";
  const CurveKeyPair agent = make_key_pair();
  const CurveKeyPair other = make_key_pair();
  KnownAgentsFile known(path);
  EXPECT_EQ(known.conflict(KnownKind::kEndpoint, "h:7300", agent.public_key), "") << "unknown is no conflict";
  ASSERT_TRUE(known.remember(KnownKind::kEndpoint, "h:7300", agent.public_key));
  // Another broker adds a line meanwhile: remembering more keeps it.
  write_text(path, read_text_file(path).value_or("") + "agent " + other.public_key + " elsewhere/x\n");
  ASSERT_TRUE(known.remember(KnownKind::kAgentId, "h/agent", agent.public_key));
  ASSERT_TRUE(known.remember(KnownKind::kEndpoint, "h:7300", other.public_key)) << "known already: unchanged";

  const KnownAgentsFile reread(path);
  EXPECT_EQ(reread.known().entries.size(), 3U);
  EXPECT_EQ(reread.known().find(KnownKind::kEndpoint, "h:7300")->key, agent.public_key);
  EXPECT_EQ(reread.conflict(KnownKind::kEndpoint, "h:7300", agent.public_key), "");
  const std::string why = reread.conflict(KnownKind::kEndpoint, "h:7300", other.public_key);
  EXPECT_NE(why.find("the agent at h:7300 is known with another key"), std::string::npos) << why;
  EXPECT_NE(why.find(path.string() + " line 4"), std::string::npos) << why;
  EXPECT_NE(why.find("delete that line"), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos);
}

// The whole handshake on loopback: an authorized client gets through (its messages carry its
// key as User-Id), a refused one learns it from its monitor (ZAP status 400), and one with
// the wrong server key never gets through.
class CurvePair : public ::testing::Test {
 protected:
  void SetUp() override {
    zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
    zap_.bind(kZapEndpoint);
    server_ = zmq::socket_t(context_, zmq::socket_type::router);
    set_curve_server(server_, server_keys_);
    server_.bind("tcp://127.0.0.1:*");
    endpoint_ = server_.get(zmq::sockopt::last_endpoint);
  }

  // Runs the server side (ZAP answers by `allowed`) until `done` or 5 s; returns the ZAP requests seen.
  std::vector<ZapRequest> serve(zmq::socket_t& monitor, bool allowed, std::optional<SocketEvent>& outcome) {
    std::vector<ZapRequest> seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!outcome && std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t items[] = {{static_cast<void*>(zap_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, std::chrono::milliseconds(20));
      while (auto request = receive_zap_request(zap_)) {
        seen.push_back(*request);
        send_zap_reply(zap_, *request, allowed, allowed ? "OK" : "no");
      }
      while (auto event = receive_event(monitor))
        if (event->event != ZMQ_EVENT_CONNECTED) outcome = event;
    }
    return seen;
  }

  zmq::context_t context_;
  zmq::socket_t zap_;
  zmq::socket_t server_;
  std::string endpoint_;
  CurveKeyPair server_keys_ = make_key_pair();
  CurveKeyPair client_keys_ = make_key_pair();
};

TEST_F(CurvePair, AnAuthorizedClientGetsThroughAndItsKeyIsItsUserId) {
  zmq::socket_t client(context_, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  set_curve_client(client, client_keys_, server_keys_.public_key);
  zmq::socket_t monitor = monitor_handshakes(client, context_, "client-ok");
  client.connect(endpoint_);
  (void)client.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
  std::optional<SocketEvent> outcome;
  const std::vector<ZapRequest> seen = serve(monitor, true, outcome);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->event, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].mechanism, "CURVE");
  EXPECT_EQ(seen[0].client_key, client_keys_.public_key);
  EXPECT_EQ(seen[0].address, "127.0.0.1");
  zmq::message_t id, body;
  zmq::pollitem_t item{static_cast<void*>(server_), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(2000)), 1);
  ASSERT_TRUE(server_.recv(id));
  ASSERT_TRUE(server_.recv(body));
  EXPECT_EQ(body.to_string(), "hello");
  EXPECT_EQ(std::string(body.gets("User-Id")), client_keys_.public_key);
}

TEST_F(CurvePair, ARefusedClientsMonitorSaysAuthFailed400) {
  zmq::socket_t client(context_, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  set_curve_client(client, client_keys_, server_keys_.public_key);
  zmq::socket_t monitor = monitor_handshakes(client, context_, "client-refused");
  client.connect(endpoint_);
  (void)client.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
  std::optional<SocketEvent> outcome;
  (void)serve(monitor, false, outcome);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->event, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  EXPECT_EQ(outcome->value, 400U);
  zmq::pollitem_t item{static_cast<void*>(server_), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(300)), 0) << "a refused client's message arrived";
}

TEST_F(CurvePair, AClientWithTheWrongServerKeyNeverGetsThrough) {
  zmq::socket_t client(context_, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  set_curve_client(client, client_keys_, make_key_pair().public_key);
  zmq::socket_t monitor = monitor_handshakes(client, context_, "client-wrong-key");
  client.connect(endpoint_);
  (void)client.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);
  std::optional<SocketEvent> outcome;
  const std::vector<ZapRequest> seen = serve(monitor, true, outcome);
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->event, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
  EXPECT_TRUE(seen.empty()) << "the server could not even read who it was";
  zmq::pollitem_t item{static_cast<void*>(server_), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(300)), 0);
}

}  // namespace
}  // namespace bnr::protocol
