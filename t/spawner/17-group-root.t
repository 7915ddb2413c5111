#!/usr/bin/perl
# A pool whose user is a supplementary member of gid 0 (root) is a config
# error, as a pool running as root is: `-t` names FILE:LINE: user, the
# spawner does not start with it, and a reload that adds it is refused
# while the running pools keep serving.  No worker ever runs with group 0.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

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
my $base = <<EOC;
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
EOC
my $g0 = "\n[g0]\ntemplate = t\nuser = $user\n";
my $line = (() = ($base . "\n[g0]\ntemplate = t\n") =~ /\n/g) + 1;
my $why = qr/:$line: user: \[pool g0\] user '\Q$user\E' is a member of group root \(gid 0\)/;

my $conf = write_file("$dir/pools.conf", $base . $g0);
my ($out, $rc) = spawner_status_check($conf);
isnt($rc, 0, '-t refuses the file');
like($out, $why, '-t names FILE:LINE: user and why') or diag $out;

$s = start_spawner(conf => $conf, dir => $dir);
ok(!$s->{ready} && $s->{exited}, 'the spawner does not start with it');
like(log_text($s), $why, '... and says why') or diag log_text($s);

# A reload that adds it.
write_file($conf, $base);
$s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up without g0') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'fine') == 2 }, 5), 'the other pool runs');
write_file($conf, $base . $g0);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reload failed: .*$why.*keeping the running pools/ }, 5),
   'a reload adding g0 is refused, saying why') or diag log_text($s);
is(scalar pool_workers($s, 'g0'), 0, 'no worker of g0 runs');

my $r = fcgi_request("$dir/run/fine.sock", "$dir/www/id.php", timeout => 5);
ok($r->{ok} && $r->{body} =~ /^groups=\d+$/ && $r->{body} !~ /\b0\b/,
   'the other pool serves, without group 0') or diag($r->{error} // $r->{body});

is(stop_spawner($s), 0, 'graceful stop');
done_testing();

# `vhostfcgi-spawn -c CONF -t`: (output, exit status).
sub spawner_status_check {
    my ($c) = @_;
    my $o = `'${\ spawn_bin()}' -c '$c' -t 2>&1`;
    return ($o, $? >> 8);
}
