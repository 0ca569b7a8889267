// Writes one fuzzer seed per message kind, in decode_fuzz.cpp's framing.
#include <fstream>
#include <string>

#include "codec.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace bnr::protocol;
  const Rect rect{0, 0, 2, 1};
  OpenJob open{"j", "s.blend", true, false, false, 1};
  open.files = {{"home/s.blend", 12, std::string(64, 'a')}};
  const Message messages[] = {
      open,
      JobReady{"j", {"a", "h/a", 1, "3.4.1"}, SceneInfo{.width = 2, .height = 1}},
      JobFailed{"j", "no"},
      RenderRegion{"j", 1, rect},
      RegionDone{"j", 1, rect, 1, false, 0.5},
      RegionFailed{"j", 1, "no"},
      Heartbeat{"j"},
      CloseJob{"j"},
      Refused{"busy"},
      CancelRegion{"j", 1},
      FetchChunk{"j", std::string(64, 'a'), 0, 12},
      FileChunk{"j", std::string(64, 'a'), 0},
  };
  int n = 0;
  for (const Message& m : messages) {
    const auto head = encode(m);
    std::string bulk;
    if (std::holds_alternative<FileChunk>(m)) bulk = "BLENDER-v304";
    if (std::holds_alternative<RegionDone>(m)) bulk.assign(region_payload_bytes(rect, 1, false), '\0');
    std::string seed(1, '\3');
    for (const std::string& frame : {head[0], head[1]}) {
      seed += static_cast<char>(frame.size() >> 8);
      seed += static_cast<char>(frame.size() & 0xFF);
      seed += frame;
    }
    seed += bulk;
    std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(n++), std::ios::binary) << seed;
  }
  return 0;
}
