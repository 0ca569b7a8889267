// The --http page's pure parts: --http's address, request parsing, the status JSON and the page.
#include "status_page.h"

#include <gtest/gtest.h>

namespace bnr::broker {
namespace {

using V = HttpRequest::Verdict;

JobStatus two_agents() {
  JobStatus s;
  s.scene = "shot.blend";
  s.width = 320;
  s.height = 180;
  s.fraction_done = 0.5;
  s.regions_done = 6;
  s.elapsed_seconds = 12;
  s.eta_seconds = 9.5;
  s.agents = {AgentReport{.name = "a\"<b>", .regions = 4, .pixels = 1000, .busy_seconds = 2.5, .state = "rendering"},
              AgentReport{.name = "c", .regions = 2, .pixels = 500, .note = "went silent", .state = "gone"}};
  return s;
}

TEST(StatusPage, ListenAddressIsLoopbackUnlessGiven) {
  EXPECT_EQ(parse_listen_address("8080").host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("8080").port, 8080);
  EXPECT_EQ(parse_listen_address("0.0.0.0:80").host, "0.0.0.0");
  EXPECT_EQ(parse_listen_address("[::1]:9000").host, "::1");
  EXPECT_EQ(parse_listen_address("[::1]:9000").port, 9000);
  for (const char* bad : {"", "x", "70000", ":80", "host:", "80a", "-1"})
    EXPECT_THROW((void)parse_listen_address(bad), std::runtime_error) << bad;
}

TEST(StatusPage, ParsesAGetAndDropsTheQuery) {
  const HttpRequest r = parse_request("GET /preview.png?t=123 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.verdict, V::get);
  EXPECT_EQ(r.path, "/preview.png");
  EXPECT_EQ(parse_request("GET / HTTP/1.0\n\n").verdict, V::get);
}

TEST(StatusPage, WaitsForTheHeadersEnd) {
  EXPECT_EQ(parse_request("").verdict, V::incomplete);
  EXPECT_EQ(parse_request("GET / HT").verdict, V::incomplete);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost: x\r\n").verdict, V::incomplete);
}

TEST(StatusPage, RefusesOtherMethodsAndMalformedRequests) {
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\n\r\n").verdict, V::method_not_allowed);
  EXPECT_EQ(parse_request("HEAD / HTTP/1.0\r\n\r\n").verdict, V::method_not_allowed);
  for (const char* bad : {"GET /\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET x HTTP/1.0\r\n\r\n", "get / HTTP/1.0\r\n\r\n",
                          " / HTTP/1.0\r\n\r\n", "GET  / HTTP/1.0\r\n\r\n", "GET /\x01 HTTP/1.0\r\n\r\n"})
    EXPECT_EQ(parse_request(bad).verdict, V::bad_request) << bad;
}

TEST(StatusPage, RefusesRequestsLargerThanTheBound) {
  EXPECT_EQ(parse_request(std::string(kMaxRequestBytes, 'G')).verdict, V::bad_request);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n" + std::string(kMaxRequestBytes, 'x')).verdict, V::bad_request);
}

TEST(StatusPage, StatusJsonHasTheFieldsScriptsRead) {
  const std::string j = status_json(two_agents());
  EXPECT_NE(j.find("\"state\": \"rendering\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"percent\": 50,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"regions_done\": 6,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"eta_seconds\": 9.5,"), std::string::npos) << j;
  EXPECT_NE(j.find("{\"name\": \"a\\\"<b>\", \"regions\": 4, \"pixels\": 1000, \"busy_seconds\": 2.5, "
                   "\"state\": \"rendering\""),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"state\": \"gone\", \"note\": \"went silent\""), std::string::npos) << j;
}

TEST(StatusPage, StatusJsonBeforeTheFrameIsKnown) {
  const std::string j = status_json(std::nullopt);
  EXPECT_NE(j.find("\"state\": \"starting\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"eta_seconds\": null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"agents\": []"), std::string::npos) << j;
  JobStatus unknown_eta = two_agents();
  unknown_eta.eta_seconds = -1;
  EXPECT_NE(status_json(unknown_eta).find("\"eta_seconds\": null"), std::string::npos);
}

TEST(StatusPage, PageShowsPreviewProgressAndEscapedAgents) {
  const std::string html = status_page_html(two_agents());
  EXPECT_NE(html.find("<img id=\"preview\" src=\"/preview.png\""), std::string::npos);
  EXPECT_NE(html.find("50% | 6 regions done"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>a&quot;&lt;b&gt;</td><td>rendering</td><td>4</td>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("fetch('/status.json'"), std::string::npos);
  EXPECT_NE(status_page_html(std::nullopt).find("waiting for the frame to start"), std::string::npos);
}

TEST(StatusPage, RoutesPathsAndAnswersErrors) {
  const auto png = [] { return std::optional<std::string>("\x89PNG"); };
  const auto none = [] { return std::optional<std::string>(); };
  const auto get = [](const char* path) { return HttpRequest{V::get, path}; };
  EXPECT_EQ(respond(get("/"), two_agents(), png).rfind("HTTP/1.0 200 OK\r\nContent-Type: text/html", 0), 0u);
  EXPECT_EQ(respond(get("/status.json"), two_agents(), png).rfind("HTTP/1.0 200 OK\r\nContent-Type: application/json", 0), 0u);
  const std::string image = respond(get("/preview.png"), two_agents(), png);
  EXPECT_EQ(image.rfind("HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n", 0), 0u) << image;
  EXPECT_EQ(image.substr(image.size() - 4), "\x89PNG");
  EXPECT_EQ(respond(get("/preview.png"), std::nullopt, none).rfind("HTTP/1.0 503 ", 0), 0u);
  EXPECT_EQ(respond(get("/nothing"), two_agents(), png).rfind("HTTP/1.0 404 Not Found\r\n", 0), 0u);
  const std::string post = respond({V::method_not_allowed, ""}, two_agents(), png);
  EXPECT_EQ(post.rfind("HTTP/1.0 405 Method Not Allowed\r\n", 0), 0u);
  EXPECT_NE(post.find("Allow: GET\r\n"), std::string::npos);
  EXPECT_EQ(respond({V::bad_request, ""}, two_agents(), png).rfind("HTTP/1.0 400 Bad Request\r\n", 0), 0u);
}

}  // namespace
}  // namespace bnr::broker
