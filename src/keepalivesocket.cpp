// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesocket.h"

#include "keepaliveengine_p.h"

// Everything happens in KeepAliveEngine; this class forwards its signals and
// gives it the hooks only a QAbstractSocket subclass has.

KeepAliveSocket::KeepAliveSocket(QObject *parent) : QTcpSocket(parent), d(new KeepAliveEngine(this))
{
    d->setSocketError = [this](SocketError error, const QString &message) {
        setSocketError(error);
        setErrorString(message);
    };
    connect(d, &KeepAliveEngine::optionsChanged, this, &KeepAliveSocket::keepAliveOptionsChanged);
    connect(d, &KeepAliveEngine::effectiveOptionsChanged, this,
            &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    connect(d, &KeepAliveEngine::errorChanged, this, &KeepAliveSocket::keepAliveErrorChanged);
    connect(d, &KeepAliveEngine::errorOccurred, this, &KeepAliveSocket::keepAliveErrorOccurred);
    connect(d, &KeepAliveEngine::deadPeerReasonChanged, this,
            &KeepAliveSocket::deadPeerReasonChanged);
    connect(d, &KeepAliveEngine::deadPeer, this, &KeepAliveSocket::deadPeer);
}

KeepAliveSocket::~KeepAliveSocket()
{
    // ~QAbstractSocket() still disconnects and emits disconnected(); the
    // engine must not react once this part of the object is gone.
    delete d;
}

bool KeepAliveSocket::setKeepAliveOptions(const KeepAliveOptions &options)
{
    return d->setOptions(options);
}

KeepAliveOptions KeepAliveSocket::keepAliveOptions() const
{
    return d->options();
}

EffectiveKeepAliveOptions KeepAliveSocket::effectiveKeepAliveOptions() const
{
    return d->effectiveOptions();
}

KeepAliveSocket::KeepAliveError KeepAliveSocket::keepAliveError() const
{
    return d->error();
}

QString KeepAliveSocket::keepAliveErrorString() const
{
    return d->errorString();
}

KeepAliveSocket::DeadPeerReason KeepAliveSocket::deadPeerReason() const
{
    return d->deadPeerReason();
}

ConnectionHealth KeepAliveSocket::connectionHealth() const
{
    return d->health();
}

bool KeepAliveSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                          OpenMode openMode)
{
    const bool accepted = QTcpSocket::setSocketDescriptor(socketDescriptor, state, openMode);
    d->adopted(socketDescriptor, accepted);
    return accepted;
}

bool KeepAliveSocket::flush()
{
    return !d->reportDeathFirst() && QTcpSocket::flush();
}

bool KeepAliveSocket::waitForReadyRead(int msecs)
{
    // A death already pending is met by Qt's own read, as with a QTcpSocket:
    // after what the peer sent before it.
    if (d->connectionEnded())
        return false;
    const auto wait = d->blockingWait();
    const std::optional<int> left =
            d->awaitActivity(KeepAliveEngine::BlockingWait::ReadyRead, msecs);
    return left && QTcpSocket::waitForReadyRead(*left);
}

bool KeepAliveSocket::waitForBytesWritten(int msecs)
{
    if (d->reportDeathFirst())
        return false;
    const auto wait = d->blockingWait();
    const std::optional<int> left =
            d->awaitActivity(KeepAliveEngine::BlockingWait::BytesWritten, msecs);
    return left && QTcpSocket::waitForBytesWritten(*left);
}

bool KeepAliveSocket::waitForDisconnected(int msecs)
{
    if (d->reportDeathFirst())
        return state() == UnconnectedState;
    const auto wait = d->blockingWait();
    const std::optional<int> left =
            d->awaitActivity(KeepAliveEngine::BlockingWait::Disconnected, msecs);
    return left ? QTcpSocket::waitForDisconnected(*left) : state() == UnconnectedState;
}

qint64 KeepAliveSocket::readData(char *data, qint64 maxSize)
{
    if (!openMode().testFlag(Unbuffered))
        return QTcpSocket::readData(data, maxSize);
    const SocketState before = state();
    d->beforeUnbufferedRead();
    const qint64 read = QTcpSocket::readData(data, maxSize);
    d->afterUnbufferedRead(read, before);
    return read;
}

qint64 KeepAliveSocket::writeData(const char *data, qint64 size)
{
    // Nothing can be sent once the connection is dead; errorString() keeps saying why.
    if (d->connectionEnded() || d->refuseUnbufferedWrite())
        return -1;
    return QTcpSocket::writeData(data, size);
}
