// Fifo<T>: the Session's output queues. A vector with a read index, so a warm
// queue allocates nothing per element (std::deque allocates a block every few
// elements of the size of an Action or Event). Storage beyond `kKeep`
// elements is released once the queue drains, so a burst (say, 100,000
// failed-message events at close) does not stay resident.
//
// Thread safety: none; owned by one Session.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace tether::core {

template <class T>
class Fifo {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }

    template <class... Args>
    void emplace_back(Args&&... args) {
        // A consumer that polls only part of the queue at a time: reclaim the
        // consumed prefix before it dominates.
        if (head_ >= 64 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
        items_.emplace_back(std::forward<Args>(args)...);
    }

    std::optional<T> pop_front() {
        if (empty()) return std::nullopt;
        std::optional<T> out(std::move(items_[head_++]));
        if (empty()) {
            if (items_.capacity() > kKeep) {
                std::vector<T>().swap(items_);
            } else {
                items_.clear();
            }
            head_ = 0;
        }
        return out;
    }

private:
    static constexpr std::size_t kKeep = 64;
    std::vector<T> items_;
    std::size_t head_ = 0; // items_[0, head_) were popped
};

} // namespace tether::core
