#include "core/rate_list.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <stdexcept>

namespace pyrate::core {
namespace {

std::int64_t parse_positive(std::string_view text, std::string_view whole) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) {
    throw std::invalid_argument("malformed rate list \"" + std::string(whole) + "\"");
  }
  return value;
}

}  // namespace

std::string encode_rate_list(const std::vector<Rate>& rates) {
  std::string text;
  for (const Rate& rate : rates) {
    if (!text.empty()) text += ',';
    text += std::to_string(rate.limit) + '/' + std::to_string(rate.interval);
  }
  return text;
}

std::vector<Rate> decode_rate_list(std::string_view text) {
  std::vector<Rate> rates;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    const std::string_view pair = text.substr(begin, comma - begin);
    const std::size_t slash = pair.find('/');
    if (slash == std::string_view::npos) {
      throw std::invalid_argument("malformed rate list \"" + std::string(text) + "\"");
    }
    rates.emplace_back(parse_positive(pair.substr(0, slash), text),
                       parse_positive(pair.substr(slash + 1), text));
    begin = comma + 1;
  }
  return rates;
}

}  // namespace pyrate::core
