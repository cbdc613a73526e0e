// The errors an async acquire completes with when it is not decided.
#pragma once

#include <exception>

namespace pyrate {

// The error of an acquire that cancel() or close() ended: a boost::system::system_error
// holding boost::asio::error::operation_aborted.
std::exception_ptr aborted_error();

// The error of an acquire started after close(): a std::logic_error.
std::exception_ptr closed_error();

}  // namespace pyrate
