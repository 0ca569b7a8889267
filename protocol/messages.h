// The wire contract between bnr-broker and bnr-agent: every message that crosses ZeroMQ.
//
// A message is three ZeroMQ frames:
//   1. header: msgpack array [protocol name "bnr", protocol version, message kind]
//   2. body:   the message struct below, a msgpack positional array (MSGPACK_DEFINE)
//   3. bulk:   raw bytes (a piece of a scene file for FileChunk, pixels for RegionDone), empty
//              otherwise
// Compatibility: fields are only ever appended to a struct (an old peer ignores them, a new
// peer reading an old message keeps the defaults). Anything an old peer cannot ignore bumps
// kProtocolVersion; peers refuse other versions with a Refused message that says why.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <msgpack.hpp>

namespace bnr::protocol {

inline constexpr const char* kProtocolName = "bnr";
inline constexpr std::uint32_t kProtocolVersion = 3;

// Limits a decoder enforces before trusting a message.
inline constexpr std::int32_t kMaxImageSide = 65536;
inline constexpr std::uint32_t kMaxViews = 16;
inline constexpr std::size_t kMaxBodyBytes = 8 << 20;   // a manifest of kMaxSceneFiles fits
inline constexpr std::size_t kMaxSceneFiles = 10000;
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::uint64_t kMaxChunkBytes = 4 << 20;  // one FileChunk's bulk at most

// Content hashes are BLAKE2b-256 in lower-case hex (tools/content_hash.h computes them).
[[nodiscard]] inline bool is_content_hash(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Why a request was refused or a job or region failed: what the other side acts on. The
// reason text beside it is only for people. Decoders refuse values past kLast.
enum class Code : std::uint8_t {
  kUnspecified = 0,  // nothing more specific
  kBadMessage,       // malformed, or another protocol version
  kBusy,             // serving another broker's job: ask again soon
  kNoJob,            // no open job from this broker
  kSceneRefused,     // Blender read the scene and cannot render it: every agent would say so
  kBlenderFailed,    // this agent's Blender is missing, crashed or could not start
  kStalled,          // this agent's Blender made no progress for its --stall-timeout
  kCacheLimit,       // the scene's files exceed this agent's cache limit
  kDiskFull,         // no room for the scene's files on this agent
  kOutOfMemory,      // this agent ran out of memory
  kTransferBroken,   // scene files stopped arriving, or came unasked
  kBadFiles,         // a scene file path or size this agent will not store
  kBadRegion,        // a region outside the frame, or pixels that do not fit it
  kLast = kBadRegion,
};

// Failures of this agent alone: another agent may well do the same work.
[[nodiscard]] inline bool is_agent_fault(Code c) { return c != Code::kSceneRefused; }

// Which passes a region returns besides its display pixels (RegionDone::passes).
enum class PassMode : std::uint8_t {
  kNone = 0,
  kAsSaved = 1,  // every pass, half or float as the scene's multilayer output saves them
  kRaw = 2,      // compositing off, every pass as float: the broker composites the frame
  kLast = kRaw,
};

}  // namespace bnr::protocol
MSGPACK_ADD_ENUM(bnr::protocol::Code);
MSGPACK_ADD_ENUM(bnr::protocol::PassMode);
namespace bnr::protocol {

// A pixel rectangle of the final image: columns [x0, x1), rows [y0, y1), rows counted from
// the TOP (PNG order). Blender's border origin is bottom-left; the agent converts.
struct Rect {
  std::int32_t x0 = 0;
  std::int32_t y0 = 0;
  std::int32_t x1 = 0;
  std::int32_t y1 = 0;

  [[nodiscard]] std::int32_t width() const { return x1 - x0; }
  [[nodiscard]] std::int32_t height() const { return y1 - y0; }
  [[nodiscard]] std::int64_t area() const { return static_cast<std::int64_t>(width()) * height(); }
  [[nodiscard]] bool empty() const { return x1 <= x0 || y1 <= y0; }
  [[nodiscard]] bool contains(const Rect& o) const {
    return o.x0 >= x0 && o.y0 >= y0 && o.x1 <= x1 && o.y1 <= y1;
  }
  bool operator==(const Rect&) const = default;
  MSGPACK_DEFINE(x0, y0, x1, y1)
};

// What an agent is: sent with every JobReady so the broker can report and check versions.
struct AgentInfo {
  std::string name{};             // human-readable, e.g. the host name
  std::string agent_id{};         // stable across restarts of the same agent
  std::int32_t threads = 0;     // Blender render threads; 0 = all cores
  std::string blender_version{};  // e.g. "3.4.1"
  // What Cycles renders on, as the agent's Blender reports it: "CPU", or the compute device
  // type and the devices, e.g. "OPTIX: NVIDIA RTX A4000". Empty from agents before devices
  // (they render on the CPU).
  std::string device{};
  MSGPACK_DEFINE(name, agent_id, threads, blender_version, device)
};

// The scene as Blender reports it after loading; the broker sizes and merges the frame from it.
struct SceneInfo {
  std::int32_t width = 0;   // final pixels, resolution * percentage / 100
  std::int32_t height = 0;
  std::int32_t frame = 1;
  std::string engine{};                // e.g. "CYCLES"
  std::vector<std::string> views{};    // active view names in render order; empty = mono
  std::string stereo = "NONE";       // how Blender packs views in its own output file
  bool crosseyed = false;
  bool squeezed = false;
  std::int32_t depth = 8;            // PNG bits per channel the scene's output asks for
  std::string color_mode = "RGBA";
  bool transparent = false;
  bool adaptive = false;             // adaptive sampling: needs an overlap margin
  bool denoise = false;              // per-region denoising would show seams
  std::int32_t margin = 0;           // overlap pixels per region side for exact pixels
  std::vector<std::string> unsplittable{};  // features that cannot be rendered in regions
  std::vector<std::string> warnings{};
  std::vector<std::string> view_suffixes{};  // file suffix of each view, e.g. "_L", "_R"
  // What must run once on the whole merged frame (compositor nodes that read more than a
  // neighbourhood, File Output nodes, burned-in metadata): the broker composites it.
  std::vector<std::string> post_process{};
  // The scene's own output as saved (Blender's file_format and color_depth) and how many files
  // it reads besides the .blend as this agent's Blender found them (-1: not said). A .blend
  // that reads none is the whole scene: the broker needs no listing of its own then.
  std::string output_format{};
  std::string output_depth{};
  std::int32_t external_files = -1;

  [[nodiscard]] std::uint32_t view_count() const {
    return views.empty() ? 1U : static_cast<std::uint32_t>(views.size());
  }
  MSGPACK_DEFINE(width, height, frame, engine, views, stereo, crosseyed, squeezed, depth,
                 color_mode, transparent, adaptive, denoise, margin, unsplittable, warnings,
                 view_suffixes, post_process, output_format, output_depth, external_files)
};

// One file a job needs: the .blend itself, or an external file it uses (image texture, HDRI,
// linked library, cache, font, sound). The agent fetches the bytes it lacks with FetchChunk.
struct SceneFile {
  // Where the file goes under the job's directory on the agent: its absolute path on the
  // broker's machine without the leading '/'. Mirroring the whole path keeps every relative
  // reference between files ("//textures/wood.png", "//../lib/chair.blend") valid as it is.
  // The agent refuses a path with "..", ".", empty or absolute components.
  std::string path{};
  std::uint64_t size = 0;
  std::string hash{};  // content hash of the bytes: the agent's cache key and integrity check
  MSGPACK_DEFINE(path, size, hash)
};

// broker -> agent: render this scene (files[main_file] is the .blend) and keep Blender ready.
// The agent answers with FetchChunk requests for files it has not cached, then JobReady.
struct OpenJob {
  std::string job_id{};
  std::string scene_name{};    // for messages only; the agent stores the bytes under its own name
  bool want_exr = false;     // also return scene-linear float pixels
  bool no_denoise = false;   // turn Cycles denoising off (it cannot be split faithfully)
  bool set_frame = false;    // render `frame` rather than the frame the scene was saved at
  std::int32_t frame = 1;
  std::vector<SceneFile> files{};
  std::uint32_t main_file = 0;
  // The same for every run of the same job (content hash of the files, frame, settings and
  // output paths; tools/content_hash.h format): a restarted broker with the same key that
  // sends the same fingerprint takes the job over on an agent at once. Empty (an older
  // broker): never taken over.
  std::string fingerprint{};
  MSGPACK_DEFINE(job_id, scene_name, want_exr, no_denoise, set_frame, frame, files, main_file, fingerprint)
};

// What an agent did to get a job's files: the counters a test or a summary reads.
struct SceneTransfer {
  std::uint32_t files_cached = 0;    // already in the agent's cache: nothing sent
  std::uint32_t files_fetched = 0;
  std::uint64_t bytes_fetched = 0;
  double fetch_seconds = 0.0;
  // The scene was already loaded in a Blender kept warm from an earlier job: nothing loaded.
  bool warm_blender = false;
  // The agent was serving this job (same fingerprint) to an earlier run of this broker (same
  // key) and handed it over without waiting for that run to go silent.
  bool took_over = false;
  MSGPACK_DEFINE(files_cached, files_fetched, bytes_fetched, fetch_seconds, warm_blender, took_over)
};

// agent -> broker: the scene is loaded.
struct JobReady {
  std::string job_id{};
  AgentInfo agent{};
  SceneInfo scene{};
  SceneTransfer transfer{};
  MSGPACK_DEFINE(job_id, agent, scene, transfer)
};

// agent -> broker: the job cannot run on this agent (Blender missing, scene refused...).
struct JobFailed {
  std::string job_id{};
  std::string reason{};  // one line, quoting Blender where it said why
  Code code = Code::kUnspecified;
  MSGPACK_DEFINE(job_id, reason, code)
};

// broker -> agent: render these pixels (margin included). Agents queue requests in order.
struct RenderRegion {
  std::string job_id{};
  std::uint64_t region_id = 0;
  Rect rect{};
  PassMode passes = PassMode::kNone;
  MSGPACK_DEFINE(job_id, region_id, rect, passes)
};

// One channel of a multilayer EXR as Blender names it: "ViewLayer.Pass.X" ("ViewLayer.Depth.Z",
// "ViewLayer.CryptoObject00.r"). `half`: Blender stores it as 16-bit float.
struct PassChannel {
  std::string name{};
  bool half = false;
  bool operator==(const PassChannel&) const = default;
  MSGPACK_DEFINE(name, half)
};

// A string attribute of Blender's EXR header: Cryptomatte manifests, stamp fields.
struct TextAttribute {
  std::string name{};
  std::string value{};
  bool operator==(const TextAttribute&) const = default;
  MSGPACK_DEFINE(name, value)
};

// What Blender's multilayer EXR of a region holds besides pixels: channels in the file's
// order, and its text metadata. Empty channels: no passes.
struct PassLayout {
  std::vector<PassChannel> channels{};
  std::vector<TextAttribute> text{};
  [[nodiscard]] bool empty() const { return channels.empty(); }
  bool operator==(const PassLayout&) const = default;
  MSGPACK_DEFINE(channels, text)
};

// agent -> broker: pixels of `rect`. Bulk layout, little-endian, rows top to bottom:
//   for each view: rect.area() * 4 uint16 display-referred RGBA (Blender's view transform)
//   if has_exr, then for each view: rect.area() * 4 float32 scene-linear RGBA
//   then for each view, for each of passes.channels: rect.area() float32 (scene-linear)
struct RegionDone {
  std::string job_id{};
  std::uint64_t region_id = 0;
  Rect rect{};
  std::uint32_t views = 1;
  bool has_exr = false;
  double render_seconds = 0.0;  // time inside Blender's render call
  PassLayout passes{};          // unless the RenderRegion's passes were kNone
  MSGPACK_DEFINE(job_id, region_id, rect, views, has_exr, render_seconds, passes)
};

// agent -> broker: the region could not be rendered.
struct RegionFailed {
  std::string job_id{};
  std::uint64_t region_id = 0;
  std::string reason{};
  Code code = Code::kUnspecified;
  MSGPACK_DEFINE(job_id, region_id, reason, code)
};

// Both ways, while a job is open: "I am alive". Any message counts as one too.
struct Heartbeat {
  std::string job_id{};
  MSGPACK_DEFINE(job_id)
};

// broker -> agent: the job is over; forget queued regions. The agent may keep the job's
// Blender warm for a next job of the same scene (bnr-agent --keep-warm) unless `discard`.
struct CloseJob {
  std::string job_id{};
  bool discard = false;  // the user cancelled: stop Blender now
  MSGPACK_DEFINE(job_id, discard)
};

// agent -> broker: the request was not accepted (wrong protocol version, busy with another
// broker's job, malformed message).
struct Refused {
  std::string reason{};
  Code code = Code::kUnspecified;
  // The refusing agent (empty from older agents): what bnr-broker --check shows of an agent
  // it has no advert of, such as one given with --agent.
  AgentInfo agent{};
  MSGPACK_DEFINE(reason, code, agent)
};

// broker -> agent: another agent already delivered this region (the tail is rendered twice
// to finish sooner). Drop it if it is still queued; a result sent anyway is ignored.
struct CancelRegion {
  std::string job_id{};
  std::uint64_t region_id = 0;
  MSGPACK_DEFINE(job_id, region_id)
};

// agent -> broker: send `length` bytes of the file with this hash from `offset`. The agent
// keeps a few requests in flight: that window is the flow control, so neither side queues
// more than a few chunks however large the scene.
struct FetchChunk {
  std::string job_id{};
  std::string hash{};
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // at most kMaxChunkBytes
  MSGPACK_DEFINE(job_id, hash, offset, length)
};

// broker -> agent: the answer to one FetchChunk; bulk = the bytes (shorter only at the end
// of the file).
struct FileChunk {
  std::string job_id{};
  std::string hash{};
  std::uint64_t offset = 0;
  MSGPACK_DEFINE(job_id, hash, offset)
};

// New kinds are appended at the end: the wire kind is the index here plus one.
using Message = std::variant<OpenJob, JobReady, JobFailed, RenderRegion, RegionDone,
                             RegionFailed, Heartbeat, CloseJob, Refused, CancelRegion,
                             FetchChunk, FileChunk>;

// Bytes of RegionDone's bulk that the rectangle, view count and has_exr imply.
[[nodiscard]] std::uint64_t region_payload_bytes(const Rect& rect, std::uint32_t views,
                                                 bool has_exr, std::size_t pass_channels = 0);

// Why `layout` is not one a decoder may trust (empty when it is): bounded counts and sizes,
// channel names that are non-empty, printable and unique.
[[nodiscard]] std::string pass_layout_problem(const PassLayout& layout);
inline constexpr std::size_t kMaxPassChannels = 1024;
inline constexpr std::size_t kMaxPassTextBytes = 4 << 20;

}  // namespace bnr::protocol
