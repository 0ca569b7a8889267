// CURVE end to end: agents serve only the brokers they authorize, a refused broker is told how
// to get authorized, brokers check agents' keys (given, remembered, advertised), and nothing
// readable crosses the wire.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "avahi_harness.h"
#include "curve_auth.h"
#include "harness.h"
#include "mdns_advert.h"
#include "mdns_browse.h"
#include "transport.h"

namespace bnr::testing {
namespace {

using namespace std::chrono_literals;

// A config directory for a broker of its own (its own known_agents): a new key pair, or the
// test broker's key and farm secret, which test agents authorize and join.
std::unique_ptr<TempDir> broker_config(bool as_test_broker) {
  auto dir = std::make_unique<TempDir>("bnr-broker-config");
  if (as_test_broker) {
    (void)test_join_token();  // makes the files if this is the first use
    fs::copy_file(test_config_dir() / "broker.key", dir->path() / "broker.key");
    fs::copy_file(test_config_dir() / "farm.secret", dir->path() / "farm.secret");
  }
  return dir;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Reads the agent's log until `needle` shows up or `timeout` passes.
bool log_shows(Agent& agent, const std::string& needle, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (agent.log().find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

TEST(Auth, AuthorizedBrokerRendersBlendersImageAndRemembersTheAgentsKey) {
  TempDir dir;
  const auto scene = make_scene(dir / "auth.blend", {"--size", "64x48"});
  Agent agent;  // authorizes the test broker with --authorize
  tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-o",
                                   (dir / "ours.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  // Trust on first use: the key is kept, so the address alone is enough next time.
  const std::string known = read_file(test_config_dir() / "known_agents");
  EXPECT_NE(known.find("endpoint " + agent.key() + " " + agent.address() + "\n"), std::string::npos) << known;
  r = run_broker({scene.string(), "--no-local", "--agent", agent.address(), "-q", "-o", (dir / "again.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "again.png"));
}

TEST(Auth, UnauthorizedBrokerIsRefusedWithTheCommandThatAuthorizesItAndTheAgentKeepsServing) {
  TempDir dir;
  const auto scene = make_scene(dir / "refused.blend", {"--size", "32x24"});
  AgentOptions options;
  options.log = true;
  Agent agent(options);
  const auto stranger = broker_config(false);
  const tools::RunResult shown = run_broker({"--show-key"}, {}, 20s, stranger->path());
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  const std::string stranger_key = trimmed(shown.output);
  ASSERT_TRUE(protocol::is_curve_key(stranger_key)) << shown.output;
  ASSERT_NE(stranger_key, test_broker_keys().public_key);

  const auto started = std::chrono::steady_clock::now();
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                         (dir / "out.png").string()},
                                        {}, 60s, stranger->path());
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s) << "a refusal is known at once, not by timeout";
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find(agent.address() + ": the agent refused this broker's key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("on that agent run bnr-agent --join TOKEN (bnr-broker --join-token prints TOKEN) or "
                          "bnr-agent --authorize '" + stranger_key + "'"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.png"));

  EXPECT_TRUE(agent.process().running());
  EXPECT_TRUE(log_shows(agent, "refused a broker at 127.0.0.1")) << agent.log();
  EXPECT_NE(agent.log().find(stranger_key), std::string::npos) << agent.log();
  // The broker it does authorize still renders.
  const tools::RunResult ok = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                          (dir / "out.png").string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

TEST(Auth, AnAgentWithNoAuthorizedBrokerSaysHowToAuthorizeOneAndReadsItsFileWithoutARestart) {
  TempDir dir;
  const auto scene = make_scene(dir / "file.blend", {"--size", "32x24"});
  TempDir agent_config("bnr-agent-config");
  AgentOptions options;
  options.authorize_test_broker = false;
  options.log = true;
  options.config_dir = agent_config.path();
  Agent agent(options);
  const std::string log = agent.log();
  const std::size_t at = log.find("bnr-agent: no broker is authorized yet");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find("bnr-agent --join TOKEN (bnr-broker --join-token prints TOKEN)"), std::string::npos) << line;
  EXPECT_NE(line.find("bnr-agent --authorize 'KEY'"), std::string::npos) << line;
  EXPECT_NE(line.find((agent_config / "authorized_brokers").string()), std::string::npos) << line;

  const auto broker = broker_config(false);
  const std::vector<std::string> args = {scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                         (dir / "out.png").string()};
  tools::RunResult r = run_broker(args, {}, 60s, broker->path());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("refused this broker's key"), std::string::npos) << r.output;

  const std::string key = trimmed(run_broker({"--show-key"}, {}, 20s, broker->path()).output);
  std::ofstream(agent_config / "authorized_brokers") << "# brokers this agent serves\n" << key << " the test's broker\n";
  r = run_broker(args, {}, 60s, broker->path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
  EXPECT_TRUE(log_shows(agent, "authenticated: key " + protocol::short_key(key) + " (authorized_brokers (the test's broker))"))
      << agent.log();
}

TEST(Auth, TrustAnyServesAnyBrokerAndWarnsAtStart) {
  TempDir dir;
  const auto scene = make_scene(dir / "any.blend", {"--size", "32x24"});
  AgentOptions options;
  options.authorize_test_broker = false;
  options.log = true;
  options.extra = {"--trust-any"};
  Agent agent(options);
  const std::string log = agent.log();
  EXPECT_NE(log.find("bnr-agent: warning: --trust-any: any broker that can reach this agent may use it"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("no broker is authorized"), std::string::npos) << log;
  const auto stranger = broker_config(false);
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "-q", "-o",
                                         (dir / "out.png").string()},
                                        {}, 120s, stranger->path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

TEST(Auth, AWrongOrUnknownAgentKeyFailsClearlyAndAChangedKnownKeyIsRefused) {
  TempDir dir;
  const auto scene = make_scene(dir / "keys.blend", {"--size", "32x24"});
  Agent agent;
  const std::string wrong = protocol::make_key_pair().public_key;
  const auto broker = broker_config(true);
  auto render = [&](const std::string& agent_arg) {
    return run_broker({scene.string(), "--no-local", "--agent", agent_arg, "-q", "-o", (dir / "out.png").string()},
                      {}, 60s, broker->path());
  };

  // A key the agent does not hold: the agent hangs up on every handshake.
  tools::RunResult r = render(agent.address() + "@" + wrong);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("hung up during the CURVE handshake"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("its key is probably not " + protocol::short_key(wrong)), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(broker->path() / "known_agents")) << "nothing proved: nothing remembered";

  // No key at all: it is asked whether it is there, and the broker says what to give.
  r = render(agent.address());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("does not know the agent's public key: give it as --agent '" + agent.address() + "@KEY'"),
            std::string::npos)
      << r.output;

  // The right key is remembered; another one given later is refused before connecting.
  r = render(agent.endpoint());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = render(agent.address() + "@" + wrong);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1) << r.output;
  EXPECT_NE(r.output.find("the agent at " + agent.address() + " is known with another key"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find((broker->path() / "known_agents").string() + " line 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("delete that line"), std::string::npos) << r.output;
  // Once the line is gone, the new key is accepted (and would be remembered).
  std::ofstream(broker->path() / "known_agents", std::ios::trunc) << "# emptied by hand\n";
  r = render(agent.endpoint());
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Relays TCP connections on loopback to a port and records every byte both ways, as a
// wiretap on the network would see them.
class Wiretap {
 public:
  explicit Wiretap(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 8) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0)
      throw std::runtime_error("wiretap: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Wiretap() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  Wiretap(const Wiretap&) = delete;
  Wiretap& operator=(const Wiretap&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string recorded() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return recorded_;
  }

 private:
  static bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      const ssize_t n = write(fd, data, size);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  int connect_target() const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(target_port_));
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
  }

  void run() {
    std::vector<std::pair<int, int>> pairs;  // client, target
    char buffer[65536];
    while (!stop_) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
      for (const auto& [client, target] : pairs) {
        fds.push_back({client, POLLIN, 0});
        fds.push_back({target, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      std::vector<bool> dead(pairs.size(), false);
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          if ((fds[1 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR)) == 0 || dead[i]) continue;
          const int from = side == 0 ? pairs[i].first : pairs[i].second;
          const int to = side == 0 ? pairs[i].second : pairs[i].first;
          const ssize_t n = read(from, buffer, sizeof buffer);
          if (n <= 0 || !write_all(to, buffer, static_cast<std::size_t>(n))) {
            dead[i] = true;
            continue;
          }
          const std::lock_guard<std::mutex> lock(mutex_);
          recorded_.append(buffer, static_cast<std::size_t>(n));
        }
      }
      for (std::size_t i = pairs.size(); i-- > 0;) {
        if (!dead[i]) continue;
        close(pairs[i].first);
        close(pairs[i].second);
        pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
      }
      if ((fds[0].revents & POLLIN) != 0) {
        const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        const int target = client >= 0 ? connect_target() : -1;
        if (target >= 0) pairs.emplace_back(client, target);
        else if (client >= 0) close(client);
      }
    }
    for (const auto& [client, target] : pairs) {
      close(client);
      close(target);
    }
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::string recorded_;
  std::thread thread_;
};

TEST(Auth, NothingReadableCrossesTheWireAndAPlaintextClientGetsNothing) {
  TempDir dir;
  const auto scene = make_scene(dir / "wiretap-secret-scene.blend", {"--size", "48x32"});
  AgentOptions options;
  options.log = true;
  Agent agent(options);

  // A client without CURVE (an old broker, or anything else) gets no answer at all, where a
  // plaintext agent answers even garbage with a Refused message.
  zmq::context_t context;
  zmq::socket_t plain(context, zmq::socket_type::dealer);
  plain.set(zmq::sockopt::linger, 0);
  plain.connect("tcp://" + agent.address());
  ASSERT_TRUE(protocol::send_message(plain, protocol::OpenJob{"plain", "plain.blend"}));
  zmq::pollitem_t item{static_cast<void*>(plain), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, 2000ms), 0) << "the agent answered a plaintext client";
  EXPECT_TRUE(log_shows(agent, "failed its CURVE handshake")) << agent.log();
  // The same message from a client with the test broker's key is read, and answered.
  zmq::socket_t authorized(context, zmq::socket_type::dealer);
  authorized.set(zmq::sockopt::linger, 0);
  agent.connect(authorized);
  ASSERT_TRUE(protocol::send_message(authorized, protocol::OpenJob{"plain", "plain.blend"}));
  zmq::pollitem_t answered{static_cast<void*>(authorized), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&answered, 1, 5000ms), 1) << "no answer over CURVE";
  const auto reply = protocol::receive_message(authorized, /*router=*/false);
  ASSERT_TRUE(reply && reply->decoded.packet);
  EXPECT_TRUE(std::holds_alternative<protocol::Refused>(reply->decoded.packet->message));

  // A real render through a wiretap: correct pixels, and none of the scene on the wire.
  Wiretap tap(agent.port());
  const tools::RunResult r = run_broker({scene.string(), "--no-local", "--agent",
                                         "127.0.0.1:" + std::to_string(tap.port()) + "@" + agent.key(), "-o",
                                         (dir / "ours.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "ours.png", blender_reference(scene, dir / "ref").at(0));
  const std::string wire = tap.recorded();
  const std::string blend = read_file(scene);
  EXPECT_GT(wire.size(), blend.size()) << "the scene file went through the tap";
  EXPECT_NE(wire.find("CURVE"), std::string::npos) << "the greeting names the mechanism";
  EXPECT_EQ(blend.rfind("BLENDER", 0), 0U) << "an uncompressed .blend starts with BLENDER";
  EXPECT_EQ(wire.find("BLENDER"), std::string::npos) << "the .blend crossed the wire readable";
  EXPECT_EQ(wire.find("wiretap-secret-scene"), std::string::npos) << "the scene's name crossed the wire readable";
  EXPECT_EQ(wire.find("\xa3" "bnr"), std::string::npos) << "a protocol header crossed the wire readable";
  EXPECT_TRUE(agent.process().running());
}

TEST(Auth, LocalAgentNeedsNoSetupInAFreshConfigDir) {
  TempDir dir;
  const auto scene = make_scene(dir / "fresh.blend", {"--size", "32x24"});
  TempDir fresh("bnr-fresh-config");
  const tools::RunResult r =
      run_broker({scene.string(), "--local-threads", "1", "-o", (dir / "out.png").string()}, {}, 120s, fresh.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_png(dir / "out.png", blender_reference(scene, dir / "ref").at(0));
  EXPECT_TRUE(fs::exists(fresh / "broker.key"));
  EXPECT_TRUE(fs::exists(fresh / "agent.key"));
  EXPECT_FALSE(fs::exists(fresh / "known_agents")) << "the local agent's key is not worth remembering";
}

// An advert on the LAN that claims a known agent's id with another key is refused; the real
// agent still renders.
TEST(Auth, SpoofedAdvertWithAnotherKeyForAKnownAgentIdIsRefused) {
  const auto avahi = std::make_unique<AvahiHarness>();
  if (!avahi->skip_reason().empty()) GTEST_SKIP() << avahi->skip_reason();
  TempDir dir;
  const auto scene = make_scene(dir / "lan.blend", {"--size", "32x24"});
  const std::string name = "bnr-auth-" + std::to_string(getpid());
  AgentOptions options;
  options.advertise = true;
  options.extra = {"--name", name};
  Agent agent(options);
  std::optional<broker::DiscoveredAgent> real;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!real && std::chrono::steady_clock::now() < deadline)
    for (const auto& found : broker::browse_agents(300ms))
      if (found.txt.info.name == name) real = found;
  ASSERT_TRUE(real) << avahi->avahi_log();
  EXPECT_EQ(real->txt.curve_key, agent.key()) << "the advert carries the agent's key";

  const auto broker = broker_config(true);
  auto run = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", "BNR_CONFIG_DIR=" + broker->path().string(), BNR_BROKER_EXE,
                                     "--mdns-window", "1000"};
    argv.insert(argv.end(), args.begin(), args.end());
    return tools::run_command(argv, 120s);
  };
  tools::RunResult r = run({scene.string(), "--no-local", "-o", (dir / "first.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string known = read_file(broker->path() / "known_agents");
  EXPECT_NE(known.find("agent " + agent.key() + " " + real->txt.info.agent_id + "\n"), std::string::npos) << known;

  protocol::AgentInfo spoofed = real->txt.info;
  spoofed.name = name + "-evil";
  agent::MdnsAdvert advert(spoofed, 9, protocol::make_key_pair().public_key);
  while (!advert.registered() && !advert.failed() && std::chrono::steady_clock::now() < deadline + 15s) {
    pollfd p{advert.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) > 0) (void)advert.process();
  }
  ASSERT_TRUE(advert.registered()) << avahi->avahi_log();

  r = run({"--list"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(protocol::short_key(agent.key())), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refused (!) " + spoofed.name), std::string::npos) << r.output;

  r = run({scene.string(), "--no-local", "-o", (dir / "second.png").string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bnr-broker: refusing agent " + spoofed.name + " at 127.0.0.1:9: it advertises key"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("agent id '" + real->txt.info.agent_id + "' is known with another key"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(dir / "second.png"));
}

}  // namespace
}  // namespace bnr::testing
