# Every dependency comes from a Debian package; .ci/install-deps installs them.
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)

if(TETHER_BUILD_TRANSPORT)
  find_package(OpenSSL REQUIRED)
  find_path(WEBSOCKETPP_INCLUDE_DIR websocketpp/version.hpp REQUIRED)
  find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
  # websocketpp + standalone Asio, as one interface target. C++17 only; never
  # ASIO_NO_DEPRECATED (websocketpp uses io_service). The TLS configs pull in
  # asio/ssl, so OpenSSL is linked even for ws://.
  add_library(tether_websocketpp INTERFACE)
  target_include_directories(tether_websocketpp SYSTEM INTERFACE ${WEBSOCKETPP_INCLUDE_DIR} ${ASIO_INCLUDE_DIR})
  target_compile_definitions(tether_websocketpp INTERFACE ASIO_STANDALONE _WEBSOCKETPP_CPP11_STL_)
  target_link_libraries(tether_websocketpp INTERFACE OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
endif()

# CLI11 for the command lines of the samples and of fault-proxy, through
# tether_cli (samples/common/cli.hpp).
if(TETHER_BUILD_SAMPLES OR TETHER_BUILD_TESTS)
  find_package(CLI11 2.1 REQUIRED)
  add_library(tether_cli INTERFACE)
  target_include_directories(tether_cli INTERFACE ${PROJECT_SOURCE_DIR}/samples/common ${PROJECT_SOURCE_DIR}/sdk/include)
  target_link_libraries(tether_cli INTERFACE CLI11::CLI11)
endif()

if(TETHER_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
