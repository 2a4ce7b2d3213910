#include "transport/tls_context.hpp"

#include <algorithm>
#include <string_view>

#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/verify_context.hpp>

#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "transport/transport_util.hpp"

namespace tether::transport::detail {
namespace {

std::string spki_sha256_base64(X509* cert) {
    unsigned char* der = nullptr;
    const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (len <= 0 || der == nullptr) return {};
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<std::size_t>(len), digest);
    OPENSSL_free(der);
    return base64(digest, sizeof digest);
}

} // namespace

void VerifyFailure::record(std::string why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (why_.empty()) why_ = std::move(why);
}

std::string VerifyFailure::why() const {
    std::lock_guard<std::mutex> lock(mu_);
    return why_;
}

std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& t, std::string& err) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    asio::error_code ignored; // neither can fail on a fresh context
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression, ignored);
    ctx->set_verify_mode(t.insecure_skip_verify ? asio::ssl::verify_none : asio::ssl::verify_peer, ignored);
    asio::error_code ec;
    // After each step: false, with `err` set, if it failed. A skipped step
    // leaves `ec` clear.
    auto ok = [&ec, &err](const std::string& what) {
        if (ec) err = what + ": " + ec.message();
        return !ec;
    };
    if (!t.insecure_skip_verify) {
        if (t.ca_file.empty() && t.ca_dir.empty()) ctx->set_default_verify_paths(ec);
        if (!ok("cannot load the system CA store")) return nullptr;
        if (!t.ca_file.empty()) ctx->load_verify_file(t.ca_file, ec);
        if (!ok("cannot load ca_file " + t.ca_file)) return nullptr;
        if (!t.ca_dir.empty()) ctx->add_verify_path(t.ca_dir, ec);
        if (!ok("cannot use ca_dir " + t.ca_dir)) return nullptr;
    }
    if (!t.cert_file.empty()) ctx->use_certificate_chain_file(t.cert_file, ec);
    if (!ok("cannot load cert_file " + t.cert_file)) return nullptr;
    if (!t.key_file.empty()) ctx->use_private_key_file(t.key_file, asio::ssl::context::pem, ec);
    if (!ok("cannot load key_file " + t.key_file)) return nullptr;
    return ctx;
}

PeerVerifier::PeerVerifier(std::string host, std::vector<std::string> pins, std::weak_ptr<VerifyFailure> failure)
    : host_(std::move(host)), pins_(std::move(pins)), failure_(std::move(failure)) {}

bool PeerVerifier::operator()(bool preverified, asio::ssl::verify_context& vctx) const {
    auto refuse = [this](std::string why) {
        if (auto f = failure_.lock()) f->record(std::move(why));
        return false;
    };
    X509_STORE_CTX* sctx = vctx.native_handle();
    const int depth = X509_STORE_CTX_get_error_depth(sctx);
    if (!preverified) {
        return refuse(std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx))) + " (depth " +
                      std::to_string(depth) + ")");
    }
    if (!asio::ssl::host_name_verification(host_)(preverified, vctx)) {
        return refuse("certificate does not match host " + host_);
    }
    if (depth == 0 && !pins_.empty()) {
        const std::string spki = spki_sha256_base64(X509_STORE_CTX_get_current_cert(sctx));
        const bool pinned = std::any_of(pins_.begin(), pins_.end(), [&](const std::string& p) {
            const std::string_view v = p.rfind("sha256/", 0) == 0 ? std::string_view(p).substr(7) : p;
            return !spki.empty() && v == spki;
        });
        if (!pinned) return refuse("server key " + spki + " matches no SPKI pin");
    }
    return true;
}

} // namespace tether::transport::detail
