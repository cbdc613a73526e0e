#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bucket_store.hpp"
#include "bucket_usage.hpp"
#include "commands.hpp"
#include "core/rate_spec.hpp"
#include "exit_codes.hpp"
#include "json_string.hpp"
#include "slot_count.hpp"
#include "spec_parser.hpp"

namespace pyrate::cli {
namespace {

constexpr int kBarWidth = 10;

// What the summary line counts: every bucket surveyed, whether shown or not.
struct Summary {
  std::size_t buckets = 0;
  std::size_t full = 0;  // those where an acquire of 1 would wait now
};

// "[#######   ]": `used` of `limit` in kBarWidth cells; any use shows at least one cell, and
// only a full window shows them all. A count below zero (a file another program wrote) shows
// none.
std::string usage_bar(std::int64_t used, std::int64_t limit) {
  __extension__ using Wide = __int128;
  auto filled = static_cast<int>(std::clamp<Wide>(Wide{used} * kBarWidth / limit, 0, kBarWidth));
  if (used > 0 && filled == 0) filled = 1;
  if (used < limit && filled == kBarWidth) filled = kBarWidth - 1;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(kBarWidth - filled), ' ') + "]";
}

void print_text(const std::string& db_path, const std::vector<BucketUsage>& buckets,
                const Summary& summary, const CommandLine& line) {
  std::cout << "database " << db_path << '\n';
  if (buckets.empty()) {
    std::cout << "no " << (line.bucket ? "bucket " + shown_name(*line.bucket) : "buckets")
              << " recorded\n";
    return;
  }
  for (const BucketUsage& bucket : buckets) {
    std::cout << "bucket " << shown_name(bucket.name) << ": " << slot_count(bucket.held)
              << " held, "
              << (bucket.wait_ms == 0 ? std::string("next acquire admitted now")
                                      : "next acquire waits " + format_span(bucket.wait_ms))
              << '\n';
    std::size_t spec_width = 0;
    for (const RateUsage& usage : bucket.rates) {
      spec_width = std::max(spec_width, rate_spec(usage.rate).size());
    }
    for (const RateUsage& usage : bucket.rates) {
      std::string spec = rate_spec(usage.rate);
      spec.resize(spec_width, ' ');
      std::cout << "  " << spec << "  " << usage_bar(usage.used, usage.rate.limit) << " "
                << usage.used << " used, " << usage.remaining << " remaining"
                << (usage.next_free_ms ? ", next slot frees in " + format_span(*usage.next_free_ms)
                                       : std::string())
                << '\n';
    }
  }
  std::cout << summary.buckets << (summary.buckets == 1 ? " bucket, " : " buckets, ")
            << summary.full << " full now";
  if (buckets.size() < summary.buckets)
    std::cout << "; showing the " << buckets.size() << " fullest";
  std::cout << '\n';
}

void print_json(const std::string& db_path, const std::vector<BucketUsage>& buckets,
                const Summary& summary) {
  std::cout << "{\n  \"db\": " << json_string(db_path)
            << ",\n  \"bucket_count\": " << summary.buckets
            << ",\n  \"full_count\": " << summary.full << ",\n  \"buckets\": [";
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    const BucketUsage& bucket = buckets[b];
    std::cout << (b == 0 ? "\n" : ",\n") << "    {\n      \"name\": " << json_string(bucket.name)
              << ",\n      \"held\": " << bucket.held << ",\n      \"wait_ms\": " << bucket.wait_ms
              << ",\n      \"rates\": [";
    for (std::size_t r = 0; r < bucket.rates.size(); ++r) {
      const RateUsage& usage = bucket.rates[r];
      std::cout << (r == 0 ? "\n" : ",\n") << "        {\"rate\": \"" << rate_spec(usage.rate)
                << "\", \"limit\": " << usage.rate.limit
                << ", \"interval_ms\": " << usage.rate.interval << ", \"used\": " << usage.used
                << ", \"remaining\": " << usage.remaining << ", \"next_free_ms\": "
                << (usage.next_free_ms ? std::to_string(*usage.next_free_ms) : "null") << "}";
    }
    std::cout << (bucket.rates.empty() ? "" : "\n      ") << "]\n    }";
  }
  std::cout << (buckets.empty() ? "" : "\n  ") << "]\n}\n";
}

}  // namespace

int run_status(const CommandLine& line) {
  const std::unique_ptr<BucketStore> store = open_bucket_store(line.db);
  std::vector<BucketUsage> buckets = store->survey(line.bucket);
  Summary summary;
  summary.buckets = buckets.size();
  summary.full = static_cast<std::size_t>(std::count_if(
      buckets.begin(), buckets.end(), [](const BucketUsage& usage) { return usage.wait_ms > 0; }));
  if (line.top && static_cast<std::size_t>(*line.top) < buckets.size()) {
    // Fullest first; the survey's name order breaks ties.
    const auto shown = buckets.begin() + static_cast<std::ptrdiff_t>(*line.top);
    std::partial_sort(buckets.begin(), shown, buckets.end(), [](const auto& a, const auto& b) {
      return fuller(a, b) || (!fuller(b, a) && a.name < b.name);
    });
    buckets.erase(shown, buckets.end());
  }
  if (line.json) {
    print_json(store->display_name(), buckets, summary);
  } else {
    print_text(store->display_name(), buckets, summary, line);
  }
  return kExitAdmitted;
}

}  // namespace pyrate::cli
