//! The systemd units of ops/systemd/ and the commands that move a node
//! from one role to the other, in one place, so that promote, demote, the
//! role guard and the printed plans all tell the operator the same thing.
//!
//! A role change enables the new role's unit and disables the other's:
//! `systemctl start` alone would last until the next reboot, which would
//! bring back the old role (a promoted node read-only, every write 403),
//! and with both enabled the role at boot would be a coin toss. Starting
//! one putfs unit stops the other (`Conflicts=`) while putfs.socket keeps
//! the address open, so the switch refuses no connection.

pub const PRIMARY_UNIT: &str = "putfs-primary";
pub const REPLICA_UNIT: &str = "putfs-replica";
/// The listening socket both putfs units serve. While it listens and no
/// putfs runs, a connection starts putfs-replica (`Service=`): a node that
/// must serve nothing (its dataset about to be unmounted) stops it too.
pub const SOCKET_UNIT: &str = "putfs.socket";

/// Make putfs on this node the primary, now and at every boot.
pub const BECOME_PRIMARY: &str =
    "systemctl disable putfs-replica && systemctl enable --now putfs-primary";
/// Make putfs on this node a read-only replica, now and at every boot.
pub const BECOME_REPLICA: &str =
    "systemctl disable putfs-primary && systemctl enable --now putfs-replica";
