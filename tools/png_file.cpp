#include "png_file.h"

#include "image_file_util.h"

#include <png.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace bnr::tools {
namespace {

// libpng reports errors through a callback that must not return. Throwing a C++ exception
// through libpng's C frames is undefined, so the callback copies the message here and
// longjmps back into one of the small functions below. Those functions hold no objects with
// destructors, so the jump skips nothing that needs cleaning up; everything that does (the
// FILE, the png structs, the pixel buffer) is owned by the caller's frame.
struct PngContext {
  std::FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  bool writing = false;
  int passes = 1;
  std::jmp_buf jump;
  char error[256] = {};
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* context = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(context->error, sizeof context->error, "%s", message);
  std::longjmp(context->jump, 1);
}

void on_png_warning(png_structp /*png*/, png_const_charp /*message*/) {
  // Warnings (unknown or damaged ancillary chunks, odd gamma values) do not affect the
  // pixels we read; staying quiet keeps tools' output to one line.
}

// Our own I/O callbacks only to say why: libpng's own ones report just "Read Error" and
// "Write Error".
void read_from_file(png_structp png, png_bytep data, std::size_t length) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  if (std::fread(data, 1, length, context->file) == length) return;
  png_error(png, std::feof(context->file) != 0 ? "file is truncated" : std::strerror(errno));
}

void write_to_file(png_structp png, png_bytep data, std::size_t length) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  if (std::fwrite(data, 1, length, context->file) != length) png_error(png, std::strerror(errno));
}

void flush_file(png_structp png) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  if (std::fflush(context->file) != 0) png_error(png, std::strerror(errno));
}

// Frees the png structs and closes the file whatever way the caller's frame is left.
class PngGuard {
 public:
  explicit PngGuard(PngContext& context) : context_(context) {}
  PngGuard(const PngGuard&) = delete;
  PngGuard& operator=(const PngGuard&) = delete;
  ~PngGuard() {
    destroy_png();
    if (context_.file != nullptr) std::fclose(context_.file);
  }
  void destroy_png() {
    if (context_.png == nullptr) return;
    if (context_.writing) {
      png_destroy_write_struct(&context_.png, &context_.info);
    } else {
      png_destroy_read_struct(&context_.png, &context_.info, nullptr);
    }
  }
  // Closes the file, reporting errors from the last buffered writes.
  [[nodiscard]] bool close_file() {
    const bool ok = std::fflush(context_.file) == 0 && std::ferror(context_.file) == 0;
    const int saved_errno = errno;
    const bool closed = std::fclose(context_.file) == 0;
    context_.file = nullptr;
    if (ok) return closed;
    errno = saved_errno;
    return false;
  }

 private:
  PngContext& context_;
};

// Reads the header and sets up transforms that turn every PNG into 16-bit RGBA in host byte
// order. Returns false with context.error filled on failure.
bool read_png_header(PngContext& context, png_uint_32* width, png_uint_32* height) {
  if (setjmp(context.jump) != 0) return false;
  png_set_read_fn(context.png, &context, read_from_file);
  png_set_sig_bytes(context.png, 8);
  png_read_info(context.png, context.info);

  const int color_type = png_get_color_type(context.png, context.info);
  const bool has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
                         png_get_valid(context.png, context.info, PNG_INFO_tRNS) != 0;
  // Palette to RGB, low-bit gray to 8 bit, tRNS to alpha.
  png_set_expand(context.png);
  // 8-bit channels to 16 by repeating the byte, which is v * 257.
  png_set_expand_16(context.png);
  png_set_gray_to_rgb(context.png);
  if (!has_alpha) png_set_add_alpha(context.png, 0xFFFF, PNG_FILLER_AFTER);
  if constexpr (std::endian::native == std::endian::little) png_set_swap(context.png);
  context.passes = png_set_interlace_handling(context.png);
  png_read_update_info(context.png, context.info);

  *width = png_get_image_width(context.png, context.info);
  *height = png_get_image_height(context.png, context.info);
  if (png_get_rowbytes(context.png, context.info) != static_cast<std::size_t>(*width) * 8) {
    std::snprintf(context.error, sizeof context.error, "unexpected row size after conversion");
    return false;
  }
  return true;
}

bool read_png_pixels(PngContext& context, std::uint16_t* rgba, png_uint_32 width,
                     png_uint_32 height) {
  if (setjmp(context.jump) != 0) return false;
  const std::size_t row_values = static_cast<std::size_t>(width) * 4;
  for (int pass = 0; pass < context.passes; ++pass) {
    for (png_uint_32 y = 0; y < height; ++y) {
      png_read_row(context.png, reinterpret_cast<png_bytep>(rgba + y * row_values), nullptr);
    }
  }
  // Reaching IEND catches files cut off after the image data.
  png_read_end(context.png, nullptr);
  return true;
}

bool write_png_file(PngContext& context, const Image16& image, int bit_depth, std::uint8_t* row8) {
  if (setjmp(context.jump) != 0) return false;
  png_set_write_fn(context.png, &context, write_to_file, flush_file);
  png_set_IHDR(context.png, context.info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), bit_depth, PNG_COLOR_TYPE_RGB_ALPHA,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  // Frames are written once and read once by the next stage; speed matters more than size.
  // Measured on a 16384x8192 frame: zlib level 1 with the Sub filter alone wrote about twice
  // as fast as libpng's adaptive filter choice, at the same size or smaller.
  png_set_compression_level(context.png, 1);
  png_set_filter(context.png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_write_info(context.png, context.info);
  if (bit_depth == 16 && std::endian::native == std::endian::little) png_set_swap(context.png);

  const std::size_t row_values = static_cast<std::size_t>(image.width) * 4;
  for (int y = 0; y < image.height; ++y) {
    const std::uint16_t* row = image.rgba.data() + static_cast<std::size_t>(y) * row_values;
    if (bit_depth == 16) {
      // libpng copies the row before swapping bytes, so the image is passed as it is.
      png_write_row(context.png, reinterpret_cast<png_const_bytep>(row));
    } else {
      for (std::size_t i = 0; i < row_values; ++i) row8[i] = to_8bit(row[i]);
      png_write_row(context.png, row8);
    }
  }
  png_write_end(context.png, context.info);
  return true;
}

// Writes the PNG to `temp`; throws with a message that does not yet name the final file.
void write_png_to(const std::filesystem::path& temp, const Image16& image, int bit_depth) {
  PngContext context;
  context.writing = true;
  PngGuard guard(context);
  context.file = std::fopen(temp.c_str(), "wb");
  if (context.file == nullptr) {
    throw std::runtime_error("cannot create " + quoted(temp) + ": " + std::strerror(errno));
  }
  context.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, on_png_error, on_png_warning);
  if (context.png != nullptr) context.info = png_create_info_struct(context.png);
  if (context.info == nullptr) throw std::runtime_error("out of memory in libpng");

  std::vector<std::uint8_t> row8(bit_depth == 8 ? static_cast<std::size_t>(image.width) * 4 : 0);
  if (!write_png_file(context, image, bit_depth, row8.data())) {
    throw std::runtime_error(context.error);
  }
  guard.destroy_png();
  // No fsync: the rename protects readers from a failed or crashed writer, not from power loss.
  if (!guard.close_file())
    throw std::runtime_error(std::string("write failed: ") + std::strerror(errno));
}

}  // namespace

Image16 read_png(const std::filesystem::path& path) {
  const std::string what = "cannot read PNG " + quoted(path) + ": ";
  PngContext context;
  PngGuard guard(context);
  context.file = std::fopen(path.c_str(), "rb");
  if (context.file == nullptr) throw std::runtime_error(what + std::strerror(errno));

  png_byte signature[8] = {};
  if (std::fread(signature, 1, sizeof signature, context.file) != sizeof signature ||
      png_sig_cmp(signature, 0, sizeof signature) != 0) {
    throw std::runtime_error(what + "not a PNG file");
  }
  context.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, on_png_error, on_png_warning);
  if (context.png != nullptr) context.info = png_create_info_struct(context.png);
  if (context.info == nullptr) throw std::runtime_error(what + "out of memory in libpng");

  png_uint_32 width = 0;
  png_uint_32 height = 0;
  if (!read_png_header(context, &width, &height)) throw std::runtime_error(what + context.error);
  // libpng already refuses sizes over 1,000,000; this keeps the int fields of Image16 safe.
  if (width > static_cast<png_uint_32>(std::numeric_limits<int>::max() / 8) ||
      height > static_cast<png_uint_32>(std::numeric_limits<int>::max())) {
    throw std::runtime_error(what + "image too large");
  }

  Image16 image;
  try {
    image = Image16(static_cast<int>(width), static_cast<int>(height));
  } catch (const std::bad_alloc&) {
    throw std::runtime_error(what + "not enough memory for " + std::to_string(width) + "x" +
                             std::to_string(height) + " pixels");
  }
  if (!read_png_pixels(context, image.rgba.data(), width, height)) {
    throw std::runtime_error(what + context.error);
  }
  return image;
}

void write_png(const std::filesystem::path& path, const Image16& image, int bit_depth) {
  const std::string what = "cannot write PNG " + quoted(path) + ": ";
  if (bit_depth != 8 && bit_depth != 16) {
    throw std::runtime_error(what + "bit depth must be 8 or 16, not " + std::to_string(bit_depth));
  }
  check_image_shape(what, image.width, image.height, image.rgba.size());

  write_atomically(path, what, [&](const std::filesystem::path& t) { write_png_to(t, image, bit_depth); });
}

}  // namespace bnr::tools
