// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: an optional value kept on the heap. Not installed.

#include <memory>
#include <optional>
#include <utility>

/*!
    A std::optional whose value lives on the heap: one pointer in the object
    while empty. For what each connection holds but only a dying one fills
    (the kernel's view at a death, about 160 bytes): thousands of idle
    connections do not pay for it.
*/
template<typename T>
class HeapOptional
{
public:
    HeapOptional &operator=(T value)
    {
        if (m_value)
            *m_value = std::move(value);
        else
            m_value = std::make_unique<T>(std::move(value));
        return *this;
    }

    explicit operator bool() const noexcept { return m_value != nullptr; }
    const T &operator*() const { return *m_value; }
    T value_or(T fallback) const { return m_value ? *m_value : std::move(fallback); }
    void reset() noexcept { m_value.reset(); }

    //! The value, leaving this empty.
    std::optional<T> take()
    {
        std::optional<T> value;
        if (m_value) {
            value = std::move(*m_value);
            m_value.reset();
        }
        return value;
    }

private:
    std::unique_ptr<T> m_value;
};
