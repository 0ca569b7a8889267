#include "codec.h"

#include <array>
#include <cmath>
#include <set>
#include <utility>

namespace bnr::protocol {
namespace {

// Bounds applied by msgpack before it allocates: a hostile "array of 4 billion" is refused
// instead of reserved. Bodies are small control messages; bulk data never goes through msgpack.
const msgpack::unpack_limit kBodyLimit(/*array=*/kMaxSceneFiles + 16, /*map=*/64, /*str=*/1 << 20,
                                       /*bin=*/0, /*ext=*/0, /*depth=*/8);

// Wire kind of each alternative: its index in Message, plus one so that 0 is never valid.
std::uint8_t kind_of(const Message& m) { return static_cast<std::uint8_t>(m.index() + 1); }

bool valid_rect(const Rect& r) {
  return r.x0 >= 0 && r.y0 >= 0 && r.x0 < r.x1 && r.y0 < r.y1 && r.x1 <= kMaxImageSide &&
         r.y1 <= kMaxImageSide;
}

// Each returns an empty string when the message is valid, else why not.
std::string check(const OpenJob& m, std::string_view bulk) {
  if (m.job_id.empty()) return "OpenJob without job id";
  if (!bulk.empty()) return "OpenJob with bulk bytes (files travel as FileChunk)";
  if (m.files.empty() || m.files.size() > kMaxSceneFiles) return "OpenJob with " + std::to_string(m.files.size()) + " files";
  if (m.main_file >= m.files.size()) return "OpenJob whose main file is not among its files";
  for (const SceneFile& f : m.files) {
    if (f.path.empty() || f.path.size() > kMaxPathBytes) return "OpenJob with an empty or overlong file path";
    if (!is_content_hash(f.hash)) return "OpenJob with a malformed content hash";
  }
  if (!m.fingerprint.empty() && !is_content_hash(m.fingerprint)) return "OpenJob with a malformed fingerprint";
  return {};
}
std::string check(const JobReady& m, std::string_view) {
  const SceneInfo& s = m.scene;
  if (s.width <= 0 || s.height <= 0 || s.width > kMaxImageSide || s.height > kMaxImageSide)
    return "JobReady with image size " + std::to_string(s.width) + "x" + std::to_string(s.height);
  if (s.views.size() > kMaxViews) return "JobReady with too many views";
  if (s.view_suffixes.size() != s.views.size()) return "JobReady with a suffix count unlike its views";
  if (s.depth != 8 && s.depth != 16) return "JobReady with bit depth " + std::to_string(s.depth);
  if (s.margin < 0 || s.margin > kMaxImageSide) return "JobReady with bad margin";
  if (s.external_files < -1) return "JobReady with a negative external file count";
  if (s.output_format.size() > 64 || s.output_depth.size() > 8) return "JobReady with an overlong output format";
  return {};
}
std::string check(Code c) { return c > Code::kLast ? "unknown code " + std::to_string(static_cast<int>(c)) : std::string(); }
std::string check(const JobFailed& m, std::string_view) { return check(m.code); }
std::string check(const RenderRegion& m, std::string_view) {
  if (!valid_rect(m.rect)) return "RenderRegion with invalid rectangle";
  if (m.passes > PassMode::kLast) return "RenderRegion with unknown pass mode";
  return {};
}
std::string check(const RegionDone& m, std::string_view bulk) {
  if (!valid_rect(m.rect)) return "RegionDone with invalid rectangle";
  if (m.views == 0 || m.views > kMaxViews) return "RegionDone with bad view count";
  if (!std::isfinite(m.render_seconds) || m.render_seconds < 0) return "RegionDone with bad time";
  if (std::string why = pass_layout_problem(m.passes); !why.empty()) return "RegionDone with " + why;
  const std::uint64_t expected = region_payload_bytes(m.rect, m.views, m.has_exr, m.passes.channels.size());
  if (bulk.size() != expected)
    return "RegionDone pixel payload is " + std::to_string(bulk.size()) + " bytes, rectangle implies " +
           std::to_string(expected);
  return {};
}
std::string check(const RegionFailed& m, std::string_view) { return check(m.code); }
std::string check(const Heartbeat&, std::string_view) { return {}; }
std::string check(const CloseJob&, std::string_view) { return {}; }
std::string check(const Refused& m, std::string_view) { return check(m.code); }
std::string check(const CancelRegion&, std::string_view) { return {}; }
std::string check(const FetchChunk& m, std::string_view) {
  if (!is_content_hash(m.hash)) return "FetchChunk with a malformed content hash";
  if (m.length == 0 || m.length > kMaxChunkBytes) return "FetchChunk of " + std::to_string(m.length) + " bytes";
  return {};
}
std::string check(const FileChunk& m, std::string_view bulk) {
  if (!is_content_hash(m.hash)) return "FileChunk with a malformed content hash";
  if (bulk.empty() || bulk.size() > kMaxChunkBytes) return "FileChunk of " + std::to_string(bulk.size()) + " bytes";
  return {};
}

// Builds alternative `I` of Message from the body when the wire kind selects it.
template <std::size_t I = 0>
Decoded decode_body(std::size_t index, const msgpack::object& body, std::string_view bulk) {
  if constexpr (I < std::variant_size_v<Message>) {
    if (index != I) return decode_body<I + 1>(index, body, bulk);
    std::variant_alternative_t<I, Message> value;
    body.convert(value);  // throws msgpack::type_error on a wrong type or shape
    if (std::string why = check(value, bulk); !why.empty()) return {std::nullopt, std::move(why)};
    return {Packet{Message{std::in_place_index<I>, std::move(value)}, bulk}, {}};
  } else {
    return {std::nullopt, "unknown message kind"};
  }
}

}  // namespace

std::uint64_t region_payload_bytes(const Rect& rect, std::uint32_t views, bool has_exr, std::size_t pass_channels) {
  const auto pixels = static_cast<std::uint64_t>(rect.area()) * views;
  return pixels * 4 * sizeof(std::uint16_t) + (has_exr ? pixels * 4 * sizeof(float) : 0) +
         pixels * pass_channels * sizeof(float);
}

std::string pass_layout_problem(const PassLayout& layout) {
  if (layout.channels.size() > kMaxPassChannels) return std::to_string(layout.channels.size()) + " pass channels";
  std::set<std::string_view> names;
  for (const PassChannel& c : layout.channels) {
    if (c.name.empty() || c.name.size() > 255) return "an empty or overlong pass channel name";
    for (const char ch : c.name)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return "a control character in a pass channel name";
    if (!names.insert(c.name).second) return "pass channel " + c.name.substr(0, 64) + " twice";
  }
  std::size_t text_bytes = 0;
  for (const TextAttribute& t : layout.text) {
    if (t.name.empty() || t.name.size() > 255) return "an empty or overlong pass attribute name";
    text_bytes += t.name.size() + t.value.size();
  }
  if (text_bytes > kMaxPassTextBytes) return "pass attributes of " + std::to_string(text_bytes) + " bytes";
  return {};
}

std::string encode_pass_layout(const PassLayout& layout) {
  msgpack::sbuffer out;
  msgpack::pack(out, layout);
  return {out.data(), out.size()};
}

std::optional<PassLayout> decode_pass_layout(std::string_view bytes) {
  if (bytes.size() > kMaxBodyBytes) return std::nullopt;
  try {
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size(), nullptr, nullptr, kBodyLimit);
    PassLayout layout;
    oh.get().convert(layout);
    if (!pass_layout_problem(layout).empty()) return std::nullopt;
    return layout;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::array<std::string, 2> encode(const Message& message) {
  msgpack::sbuffer header;
  msgpack::pack(header, std::make_tuple(std::string(kProtocolName), kProtocolVersion, kind_of(message)));
  msgpack::sbuffer body;
  std::visit([&](const auto& m) { msgpack::pack(body, m); }, message);
  return {std::string(header.data(), header.size()), std::string(body.data(), body.size())};
}

Decoded decode(std::span<const std::string_view> frames) {
  if (frames.size() != 3)
    return {std::nullopt, "expected 3 frames, got " + std::to_string(frames.size())};
  if (frames[1].size() > kMaxBodyBytes) return {std::nullopt, "message body too large"};
  try {
    std::string name;
    std::uint32_t version = 0;
    std::uint32_t kind = 0;
    {
      const msgpack::unpack_limit header_limit(4, 0, 64, 0, 0, 2);
      msgpack::object_handle oh =
          msgpack::unpack(frames[0].data(), frames[0].size(), nullptr, nullptr, header_limit);
      const msgpack::object& h = oh.get();
      if (h.type != msgpack::type::ARRAY || h.via.array.size < 3) return {std::nullopt, "bad header"};
      h.via.array.ptr[0].convert(name);
      h.via.array.ptr[1].convert(version);
      h.via.array.ptr[2].convert(kind);
    }
    if (name != kProtocolName) return {std::nullopt, "not a bnr message"};
    if (version != kProtocolVersion)
      return {std::nullopt, "protocol version " + std::to_string(version) + ", this side speaks " +
                                std::to_string(kProtocolVersion)};
    if (kind == 0 || kind > std::variant_size_v<Message>)
      return {std::nullopt, "unknown message kind " + std::to_string(kind)};
    msgpack::object_handle oh =
        msgpack::unpack(frames[1].data(), frames[1].size(), nullptr, nullptr, kBodyLimit);
    return decode_body(kind - 1, oh.get(), frames[2]);
  } catch (const msgpack::type_error&) {
    return {std::nullopt, "wrongly typed message"};
  } catch (const std::exception& e) {
    return {std::nullopt, std::string("malformed message: ") + e.what()};
  }
}

const char* kind_name(const Message& message) {
  static constexpr std::array<const char*, std::variant_size_v<Message>> kNames = {
      "OpenJob", "JobReady", "JobFailed", "RenderRegion", "RegionDone",
      "RegionFailed", "Heartbeat", "CloseJob", "Refused", "CancelRegion",
      "FetchChunk", "FileChunk"};
  return kNames[message.index()];
}

}  // namespace bnr::protocol
