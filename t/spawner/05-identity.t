#!/usr/bin/perl
# Workers run as their pool's user and group, never root: posix_getuid()
# and friends, supplementary groups, /proc/PID/status; a pool's worker
# cannot read another pool's 0640 files nor signal its workers; clear_env
# keeps the spawner's environment out; listen.owner/group/mode are set on
# the socket.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my ($ua, $ga, $ub, $gb) = (uid_of('vf-alice'), gid_of('vf-alice'),
                           uid_of('vf-bob'), gid_of('vf-bob'));
my $dir = test_dir();
mkdir "$dir/$_" for qw(www alice bob);
chmod 0755, "$dir/www", "$dir/alice", "$dir/bob";
write_file("$dir/www/id.php", <<'PHP');
<?php
echo "uid=", posix_getuid(), " euid=", posix_geteuid(), " gid=", posix_getgid(),
     " egid=", posix_getegid(), " groups=", implode(',', posix_getgroups()), "\n";
if (isset($_GET['f'])) echo "read=", (@file_get_contents($_GET['f']) === false ? "denied" : "ok"), "\n";
if (isset($_GET['kill'])) echo "kill=", (@posix_kill((int)$_GET['kill'], 0) ? "ok" : "denied"), "\n";
echo "env=", getenv('VF_SPAWNER_ENV') === false ? 'none' : getenv('VF_SPAWNER_ENV'), "\n";
PHP
for (['alice', $ga], ['bob', $gb]) {
    my ($who, $gid) = @$_;
    write_file("$dir/$who/secret.txt", "${who}'s secret\n", 0640);
    chown 0, $gid, "$dir/$who/secret.txt";
}

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
pm = ondemand
env[VF_TEST_POOL] = \$pool

[alice]
template = t
user = vf-alice
listen.owner = vf-alice
listen.group = vf-bob
listen.mode = 0600

[bob]
template = t
user = vf-bob
group = vf-bob

[bobenv]
template = t
user = vf-bob
clear_env = no
EOC

local $ENV{VF_SPAWNER_ENV} = 'leaked';
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
like(log_text($s), qr/WARNING: .*pools bob and bobenv both run as uid $ub/,
     'shared uid warned about at startup');

sub ask {
    my ($pool, $query) = @_;
    my $r = fcgi_request("$dir/run/$pool.sock", "$dir/www/id.php",
                         query => $query // '');
    return $r->{ok} ? $r->{body} : "ERROR $r->{error}";
}

my $a = ask('alice', "f=$dir/alice/secret.txt");
like($a, qr/^uid=$ua euid=$ua gid=$ga egid=$ga groups=$ga\n/,
     'alice: uid, euid, gid, egid of vf-alice, no other group');
like($a, qr/read=ok/, "alice reads alice's 0640 file");
like(ask('alice', "f=$dir/bob/secret.txt"), qr/read=denied/,
     "alice cannot read bob's 0640 file");
like($a, qr/env=none/, 'clear_env: the spawner environment is not passed');

my $b = ask('bob', "f=$dir/bob/secret.txt");
like($b, qr/^uid=$ub euid=$ub gid=$gb egid=$gb /, 'bob: ids of vf-bob');
like($b, qr/read=ok/, "bob reads bob's file");
like(ask('bob', "f=$dir/alice/secret.txt"), qr/read=denied/,
     "bob cannot read alice's file");
like(ask('bobenv'), qr/env=leaked/, 'clear_env = no passes it');

my ($apid) = pool_workers($s, 'alice');
like(ask('bob', "kill=$apid"), qr/kill=denied/,
     "bob's worker cannot signal alice's worker");

# /proc: real, effective, saved and filesystem ids of every worker (a
# child between fork and execve is still the spawner, so only processes
# that run the pool's environment are looked at).
for my $pid (map { pool_workers($s, $_) } qw(alice bob bobenv)) {
    open my $fh, '<', "/proc/$pid/status" or next;
    my $st = do { local $/; <$fh> };
    my ($uids) = $st =~ /^Uid:\s+(.*)$/m;
    my ($gids) = $st =~ /^Gid:\s+(.*)$/m;
    my ($groups) = $st =~ /^Groups:\s*(.*)$/m;
    ok(!grep({ $_ == 0 } split ' ', "$uids $gids $groups"),
       "worker $pid: no root id (Uid $uids, Gid $gids, Groups $groups)");
}

# Sockets: listen.* applied; default owner root:root 0660.
my @sa = stat "$dir/run/alice.sock";
is(sprintf('%o', $sa[2] & 07777), '600', 'alice.sock mode 0600');
is("$sa[4]:$sa[5]", "$ua:$gb", 'alice.sock owned by vf-alice:vf-bob');
my @sb = stat "$dir/run/bob.sock";
is(sprintf('%o', $sb[2] & 07777), '660', 'bob.sock default mode 0660');
is("$sb[4]:$sb[5]", '0:0', 'bob.sock default owner: the spawner (root)');

is(stop_spawner($s), 0, 'graceful stop');
ok(!-e "$dir/run/alice.sock", 'sockets removed at stop');
done_testing();
