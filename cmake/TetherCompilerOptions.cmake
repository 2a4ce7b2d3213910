# Warnings and sanitizers, applied through the tether_warnings interface target
# (our own code only: third-party headers are included as SYSTEM).
add_library(tether_warnings INTERFACE)
target_compile_options(tether_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual -Wconversion
    -Wsign-conversion -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wstrict-prototypes>)
if(TETHER_WERROR)
  target_compile_options(tether_warnings INTERFACE -Werror)
endif()

if(TETHER_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(TETHER_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT TETHER_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TETHER_SANITIZE must be '', 'address' or 'thread' (got '${TETHER_SANITIZE}')")
endif()
