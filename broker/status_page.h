// The broker's local web page (bnr-broker --http): what it answers, apart from the sockets
// (status_server.h). Pure: request parsing, the status JSON, the page's HTML, responses.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "progress.h"

namespace bnr::broker {

// Where --http listens: "[ADDR:]PORT", loopback unless an address is given; an IPv6 address
// in brackets ("[::1]:8080"). Throws std::runtime_error with a one-line reason.
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};
[[nodiscard]] ListenAddress parse_listen_address(const std::string& text);

// Requests larger than this (request line and headers) are refused.
inline constexpr std::size_t kMaxRequestBytes = 8192;

// What the bytes a client sent so far ask for: incomplete until the headers end.
struct HttpRequest {
  enum class Verdict { incomplete, get, bad_request, method_not_allowed };
  Verdict verdict = Verdict::incomplete;
  std::string path;  // for `get`: the path without its query ("?t=..."), e.g. "/status.json"
};
[[nodiscard]] HttpRequest parse_request(std::string_view received);

// {"state": "starting"|"rendering", "scene", "width", "height", "percent", "regions_done",
// "elapsed_seconds", "eta_seconds" (null until predicted), "progress" (the progress line),
// "agents": [{"name", "regions", "pixels", "busy_seconds", "state", "note"}]}.
// No status yet (the frame is not known): state "starting" and zeros.
[[nodiscard]] std::string status_json(const std::optional<JobStatus>& status);

// The page: the preview image, the progress line and the agents' table as they are now; a
// few lines of script refresh them from /status.json every second and the image every few.
[[nodiscard]] std::string status_page_html(const std::optional<JobStatus>& status);

// A whole HTTP/1.0 response (Connection: close, no caching).
[[nodiscard]] std::string http_response(int code, std::string_view content_type, std::string_view body);

// The response to a request: "/" the page, "/status.json", "/preview.png" (the bytes
// `preview_png` returns; 503 while there is none yet), 404 other paths, 405 other methods,
// 400 malformed requests. Call only with a complete request.
[[nodiscard]] std::string respond(const HttpRequest& request, const std::optional<JobStatus>& status,
                                  const std::function<std::optional<std::string>()>& preview_png);

}  // namespace bnr::broker
