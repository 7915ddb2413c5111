#!/usr/bin/perl
# A chroot whose path passes through a directory a tenant owns is no jail:
# the tenant could put a symlink to / in place of the next component.  The
# spawner refuses to start such a pool's workers and says which directory
# is at fault; the jail itself may belong to anyone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/alice";
chown uid_of('vf-alice'), gid_of('vf-alice'), "$dir/alice";
chmod 0755, "$dir/alice";
mkdir "$dir/alice/jail";
chmod 0755, "$dir/alice/jail";

my $conf = php_pools_conf($dir, p => [chroot => "$dir/alice/jail", pm => 'static',
                                       'pm.max_children' => 1]);
my $s = start_spawner(conf => $conf, dir => $dir);
ok(wait_for(sub { log_text($s) =~ /chroot \Q$dir\E\/alice\/jail: \Q$dir\E\/alice is not owned by root; every directory above a chroot must be root's/ }, 5),
   'a chroot below a tenant\'s directory is refused, naming it')
    or diag(log_text($s));
is(scalar(pool_workers($s, 'p')), 0, 'no worker runs');
stop_spawner($s);
done_testing();
