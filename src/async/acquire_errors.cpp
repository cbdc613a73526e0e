#include "async/acquire_errors.hpp"

#include <utility>
//
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <stdexcept>

namespace pyrate {

std::exception_ptr aborted_error() {
  return std::make_exception_ptr(
      boost::system::system_error(boost::asio::error::operation_aborted));
}

std::exception_ptr closed_error() {
  return std::make_exception_ptr(std::logic_error("AsyncLimiter: acquire after close()"));
}

}  // namespace pyrate
