// Waiting in a test for something another thread or process does.
#pragma once

#include <chrono>
#include <functional>

namespace pyrate::testing {

// Polls `condition` every millisecond until it holds or `limit` passes; returns whether it
// held.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = std::chrono::seconds(5));

}  // namespace pyrate::testing
