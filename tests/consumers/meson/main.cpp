// A program built with pyrate as a meson subproject (see meson.build here).
#include <cstdlib>
#include <iostream>
#include <pyrate/pyrate.hpp>

int main() {
  pyrate::Limiter limiter(pyrate::Rate(3, pyrate::Duration::Second));
  pyrate::AcquireOptions no_wait;
  no_wait.blocking = false;
  int admitted = 0;
  for (int i = 0; i < 4; ++i) admitted += limiter.try_acquire("subproject", no_wait);
  std::cout << "pyrate " << PYRATE_VERSION_STRING << " as a subproject admitted " << admitted
            << " of 4\n";
  return admitted == 3 ? EXIT_SUCCESS : EXIT_FAILURE;
}
