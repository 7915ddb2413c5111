#!/usr/bin/perl
# A pool whose user is a supplementary member of gid 0 (root): no worker
# of it ever runs with group 0 (the spawner refuses to start them and the
# log says why); the other pools run as usual.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

plan skip_all => 'needs root' if $> != 0;
plan skip_all => 'build/vhostfcgi-spawn missing (make spawner)'
    unless -x spawn_bin();

# A user of its own, in group root, removed at the end.
my $user = 'vf-rootgrp';
my ($s, $made);
if (!defined getpwnam($user)) {
    system('useradd', '--system', '--no-create-home', '--shell',
           '/usr/sbin/nologin', '--user-group', '-G', 'root', $user) == 0
        or BAIL_OUT("useradd $user failed");
    $made = 1;
} else {
    system('usermod', '-a', '-G', 'root', $user) == 0
        or BAIL_OUT("usermod $user failed");
}
END {
    my $rc = $?;
    stop_spawner($s, 10) if $s && !$s->{exited};
    if (defined getpwnam($user)) {
        system('userdel', $user);
        system('groupdel', $user) if defined getgrnam($user);
    }
    $? = $rc;
}
ensure_user('vf-alice');
like(`id -G $user`, qr/(?:^|\s)0(?:\s|$)/, "$user is a member of gid 0");

my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/id.php", "<?php echo 'groups=', implode(',', posix_getgroups()), \"\\n\";\n");
my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
log_level = info

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
pm = static
pm.max_children = 2
env[VF_TEST_POOL] = \$pool

[fine]
template = t
user = vf-alice

[g0]
template = t
user = $user
EOC

$s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'fine') == 2 }, 5), 'the other pool runs');
sleep 1;

# Every process that runs g0's environment, and its Groups.
my @root;
for my $pid (pool_workers($s, 'g0')) {
    open my $fh, '<', "/proc/$pid/status" or next;
    my $st = do { local $/; <$fh> };
    my ($gids) = $st =~ /^Gid:\s+(.*)$/m;
    my ($groups) = $st =~ /^Groups:\s*(.*)$/m;
    push @root, "$pid (Gid $gids, Groups $groups)"
        if grep { $_ == 0 } split ' ', "$gids $groups";
}
is_deeply(\@root, [], 'no worker of g0 runs with group 0') or diag "@root";
like(log_text($s), qr/\[pool g0\] .*\b(?:group root|gid 0)\b/,
     'the log says why g0 has no workers') or diag log_text($s);

my $r = fcgi_request("$dir/run/fine.sock", "$dir/www/id.php", timeout => 5);
ok($r->{ok} && $r->{body} =~ /^groups=\d+$/ && $r->{body} !~ /\b0\b/,
   'the other pool serves, without group 0') or diag($r->{error} // $r->{body});
ok(kill(0, $s->{pid}), 'the spawner runs on');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
