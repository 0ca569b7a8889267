// Building JSON text by hand (the broker's reports and its status page): escaped strings,
// numbers (non-finite as null), objects and arrays. Pure, header-only.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace bnr::broker::json {

// A JSON string literal; control characters as \uXXXX, other bytes as they are.
inline std::string quote(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

inline std::string number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", value);
  return buf;
}
inline std::string number(long long value) { return std::to_string(value); }
inline std::string number(std::size_t value) { return std::to_string(value); }

// Members of one JSON object, comma-separated as they are added.
class Object {
 public:
  Object& raw(const char* key, const std::string& json) {
    text_ += (text_.empty() ? "{" : ", ") + quote(key) + ": " + json;
    return *this;
  }
  template <typename T>
  Object& num(const char* key, T value) {
    return raw(key, number(value));
  }
  Object& str(const char* key, const std::string& value) { return raw(key, quote(value)); }
  [[nodiscard]] std::string text() const { return text_.empty() ? "{}" : text_ + "}"; }

 private:
  std::string text_;
};

template <typename T, typename F>
std::string array(const std::vector<T>& items, F&& each) {
  std::string out = "[";
  for (const T& item : items) out += (out.size() > 1 ? ", " : "") + each(item);
  return out + "]";
}

}  // namespace bnr::broker::json
