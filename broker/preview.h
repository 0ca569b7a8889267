// The live preview: the frame as merged so far, finished regions in place and the rest
// transparent (the merge buffers start at zero alpha), shrunk so that writing it every few
// seconds stays cheap for a 16k frame. Pure.
#pragma once

#include "image.h"

namespace bnr::broker {

// `full` shrunk by a whole factor until it is at most `max_width` wide (box filter over
// premultiplied colour, so transparent pixels do not darken their neighbours); a copy of it
// when it is narrow enough already.
[[nodiscard]] tools::Image16 preview_image(const tools::Image16& full, int max_width);

}  // namespace bnr::broker
