#!/usr/bin/perl
# A pool's chdir is entered as the pool's user, not as root: a tenant who
# puts a symlink to another site's private directory in place of its own
# chdir gets no worker whose working directory is in there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
ensure_user('vf-bob');
my $dir = test_dir();
mkdir "$dir/$_" for qw(alice bob);
chmod 0755, "$dir/alice";
chown uid_of('vf-bob'), gid_of('vf-bob'), "$dir/bob";
chmod 0700, "$dir/bob";
# What the tenant did: its www is now a link to bob's private directory.
symlink "$dir/bob", "$dir/alice/www" or die "symlink: $!";

my $conf = php_pools_conf($dir, p => [chdir => "$dir/alice/www", pm => 'static',
                                       'pm.max_children' => 1]);

my $s = start_spawner(conf => $conf, dir => $dir);
ok(wait_for(sub { log_text($s) =~ /\[pool p\].*chdir.*Permission denied/ }, 5),
   'the worker cannot enter the linked directory, and the log says so')
    or diag(log_text($s));
my @in_bob = grep { (readlink("/proc/$_/cwd") // '') eq "$dir/bob" }
             pool_workers($s, 'p');
is(scalar @in_bob, 0, 'no worker has its working directory in bob\'s');
stop_spawner($s);
done_testing();
