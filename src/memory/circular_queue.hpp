// A queue in one circular array: what RunLog keeps its runs in.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace pyrate::memory {

// A first-in, first-out queue with indexed access, stored in one array that doubles when full
// and wraps around. Unlike std::deque it allocates nothing while empty and one block for its
// first element, which keeps a bucket that holds a slot or two small. T must be default
// constructible and movable. Not thread-safe.
template <class T>
class CircularQueue {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  // The element `index` places after the oldest; index < size().
  T& operator[](std::size_t index) { return slots_[(head_ + index) & (capacity_ - 1)]; }
  const T& operator[](std::size_t index) const { return slots_[(head_ + index) & (capacity_ - 1)]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  void push_back(T value) {
    if (size_ == capacity_) grow();
    (*this)[size_] = std::move(value);
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
  }
  // Removes every element; with `release_memory`, also frees the array.
  void clear(bool release_memory = false) {
    head_ = 0;
    size_ = 0;
    if (release_memory) {
      slots_.reset();
      capacity_ = 0;
    }
  }

 private:
  void grow() {
    const std::size_t capacity = capacity_ == 0 ? 1 : capacity_ * 2;
    auto slots = std::make_unique<T[]>(capacity);
    for (std::size_t i = 0; i < size_; ++i) slots[i] = std::move((*this)[i]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<T[]> slots_;
  std::size_t capacity_ = 0;  // a power of two, or 0
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace pyrate::memory
