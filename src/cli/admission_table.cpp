#include "admission_table.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <numeric>
#include <string>

namespace pyrate::cli {
namespace {

// How long after a second ends its row waits for reports still in the pipe.
constexpr Millis kReportLagMs = 200;

std::string cell(const char* format, auto value) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), format, value);
  return text.data();
}

}  // namespace

AdmissionTable::AdmissionTable(std::ostream& out, bool live, int first_worker, int workers,
                               Millis start, int seconds)
    : out_(out),
      live_(live),
      first_worker_(first_worker),
      workers_(workers),
      start_(start),
      seconds_(seconds) {
  std::string header = "  second ";
  for (int w = 0; w < workers_; ++w)
    header += cell("%5s", ("w" + std::to_string(first_worker_ + w)).c_str());
  out_ << header << "  total\n";
  out_.flush();
}

std::vector<std::int64_t>& AdmissionTable::row(std::size_t index) {
  while (rows_.size() <= index) rows_.emplace_back(static_cast<std::size_t>(workers_), 0);
  return rows_[index];
}

void AdmissionTable::add(const Admission& admission) {
  const Millis since_start = admission.timestamp - start_;
  const auto second = static_cast<std::size_t>(std::max<Millis>(0, since_start / 1000));
  const int column = admission.worker - first_worker_;
  if (column < 0 || column >= workers_) return;
  ++row(second)[static_cast<std::size_t>(column)];
}

std::string AdmissionTable::format_row(std::size_t index) {
  const std::vector<std::int64_t>& counts = row(index);
  std::string text =
      cell("  %-7s", (std::to_string(index) + "-" + std::to_string(index + 1) + " s").c_str());
  for (const std::int64_t count : counts) text += cell("%5lld", static_cast<long long>(count));
  const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  return text + cell("%7lld", static_cast<long long>(total));
}

void AdmissionTable::refresh(Millis now) {
  const auto complete =
      static_cast<std::size_t>(std::max<Millis>(0, (now - start_ - kReportLagMs) / 1000));
  for (; printed_ < complete; ++printed_) {
    out_ << (live_ ? "\r\033[K" : "") << format_row(printed_) << '\n';
    drawn_.clear();
  }
  if (live_) {
    std::string current = format_row(printed_);
    if (current != drawn_) out_ << "\r\033[K" << current;
    drawn_ = std::move(current);
  }
  out_.flush();
}

void AdmissionTable::finish() {
  const std::size_t rows = std::max(rows_.size(), static_cast<std::size_t>(seconds_));
  if (live_) out_ << "\r\033[K";
  for (; printed_ < rows; ++printed_) out_ << format_row(printed_) << '\n';
  out_.flush();
}

void AdmissionTable::cut_short() {
  if (live_) out_ << "\r\033[K";
  out_.flush();
}

}  // namespace pyrate::cli
