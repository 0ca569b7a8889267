// bnr-broker --http: the status page, /status.json and /preview.png while the broker renders,
// errors for what it does not serve, and the page as headless Chromium renders it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"
#include "png_file.h"

namespace bnr::testing {
namespace {

// The IPv4 addresses (host byte order) listening on TCP `port`, from /proc/net/tcp: what the
// kernel bound, seen without sending anything.
std::vector<std::uint32_t> listening_addresses(int port) {
  std::ifstream in("/proc/net/tcp");
  std::vector<std::uint32_t> out;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    unsigned slot = 0, address = 0, local_port = 0, remote = 0, remote_port = 0, state = 0;
    if (std::sscanf(line.c_str(), " %u: %X:%X %X:%X %X", &slot, &address, &local_port, &remote, &remote_port, &state) ==
            6 &&
        static_cast<int>(local_port) == port && state == 0x0A)  // TCP_LISTEN
      out.push_back(ntohl(address));  // the file has it in network byte order, as hex of the word
  }
  return out;
}

// Sends `request` to 127.0.0.1:port and returns everything the server answered.
std::string http_exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval limit{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[65536];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return reply;
}

std::string get(int port, const std::string& path) { return http_exchange(port, "GET " + path + " HTTP/1.0\r\n\r\n"); }

std::string body_of(const std::string& reply) {
  const auto end = reply.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : reply.substr(end + 4);
}

double number_field(const std::string& json, const std::string& key) {
  std::smatch m;
  const std::regex re("\"" + key + "\": (-?[0-9.e+]+)");
  return std::regex_search(json, m, re) ? std::stod(m[1]) : -1;
}

// Headless Chromium's DOM of `url` after the page ran for `run_ms` of (virtual) time; kept
// off the network but loopback.
std::string chromium_dom(const fs::path& profile, const std::string& url, int run_ms) {
  const auto r = tools::run_command(
      {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile.string(),
       "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--disable-default-apps", "--disable-breakpad", "--disable-domain-reliability",
       "--virtual-time-budget=" + std::to_string(run_ms), "--dump-dom", url},
      std::chrono::seconds(90));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

TEST(HttpStatus, ServesStatusPreviewAndPageWhileRendering) {
  TempDir dir;
  const auto scene = make_scene(dir / "h.blend", {"--size", "320x180", "--samples", "400"});
  Agent agent;
  // A port alone: this machine only.
  auto broker = start_broker({scene.string(), "--no-local", "--agent", agent.endpoint(), "--region-width", "32",
                              "-o", (dir / "out.png").string(), "--http", "0"});
  std::string output;
  ASSERT_TRUE(wait_for_output(*broker, output, "status page at http://127.0.0.1:", std::chrono::seconds(60))) << output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(output, m, std::regex("status page at http://127\\.0\\.0\\.1:([0-9]+)/"))) << output;
  const int port = std::stoi(m[1]);
  EXPECT_EQ(listening_addresses(port), std::vector<std::uint32_t>{INADDR_LOOPBACK}) << "loopback only";

  // While it renders: regions done and an ETA predicted, the agent's row, a preview of the
  // frame's size.
  std::string status;
  while (broker->running()) {
    status = body_of(get(port, "/status.json"));
    if (number_field(status, "regions_done") >= 2 && number_field(status, "eta_seconds") >= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_GE(number_field(status, "regions_done"), 2) << status;
  EXPECT_GT(number_field(status, "percent"), 0) << status;
  EXPECT_GE(number_field(status, "eta_seconds"), 0) << status;
  EXPECT_NE(status.find("\"state\": \"rendering\""), std::string::npos) << status;
  EXPECT_EQ(number_field(status, "width"), 320);
  EXPECT_TRUE(std::regex_search(status, std::regex("\"agents\": \\[\\{\"name\": \"[^\"]+\", \"regions\": [1-9][0-9]*, "
                                                   "\"pixels\": [1-9][0-9]*, \"busy_seconds\": [0-9.e+]+, "
                                                   "\"state\": \"rendering\"")))
      << status;

  const std::string png_reply = get(port, "/preview.png");
  ASSERT_EQ(png_reply.rfind("HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n", 0), 0u) << png_reply.substr(0, 200);
  {
    std::ofstream(dir / "got.png", std::ios::binary) << body_of(png_reply);
  }
  const tools::Image16 preview = tools::read_png(dir / "got.png");
  EXPECT_EQ(preview.width, 320);
  EXPECT_EQ(preview.height, 180);

  EXPECT_EQ(get(port, "/nope").rfind("HTTP/1.0 404 ", 0), 0u);
  EXPECT_EQ(http_exchange(port, "POST /status.json HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}").rfind("HTTP/1.0 405 ", 0), 0u);
  EXPECT_EQ(http_exchange(port, "GARBAGE\r\n\r\n").rfind("HTTP/1.0 400 ", 0), 0u);
  EXPECT_EQ(http_exchange(port, std::string(20000, 'x')).rfind("HTTP/1.0 400 ", 0), 0u);

  const std::string page = get(port, "/");
  EXPECT_NE(page.find("<img id=\"preview\" src=\"/preview.png\""), std::string::npos) << page;
  EXPECT_NE(page.find("% | "), std::string::npos) << page;

  // Chromium runs the page for a few seconds: the preview decoded at its size, the progress
  // line with its ETA, the agent's row, and the page refreshed itself from /status.json (its
  // script reloads the image with a query every third poll).
  if (tools::run_command({"chromium", "--version"}, std::chrono::seconds(30)).exit_code == 0) {
    const std::string dom = chromium_dom(dir / "chromium", "http://127.0.0.1:" + std::to_string(port) + "/", 3500);
    EXPECT_NE(dom.find("data-size=\"320x180\""), std::string::npos) << dom;
    EXPECT_TRUE(std::regex_search(dom, std::regex("<p id=\"progress\">[0-9]+% \\| [0-9]+ regions done \\| 1 agent \\| "
                                                  "[0-9:]+ elapsed \\| ETA [0-9:]+</p>")))
        << dom;
    ASSERT_TRUE(std::regex_search(status, m, std::regex("\"agents\": \\[\\{\"name\": \"([^\"]+)\""))) << status;
    EXPECT_NE(dom.find("<tr><td>" + m[1].str() + "</td><td>rendering</td>"), std::string::npos) << dom;
    EXPECT_NE(dom.find("src=\"/preview.png?t="), std::string::npos) << "the page did not refresh itself: " << dom;
  } else {
    ADD_FAILURE() << "chromium is not installed (tools/setup.sh installs it)";
  }
  ASSERT_EQ(wait_for_exit(*broker, output, std::chrono::seconds(240)), 0) << output;
}

}  // namespace
}  // namespace bnr::testing
