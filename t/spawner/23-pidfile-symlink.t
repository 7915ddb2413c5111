#!/usr/bin/perl
# The spawner (root) truncates its pid file: a symlink planted in its
# place is refused, the file it points to is left as it was, and the
# spawner says why and does not start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

my $dir = test_dir();
write_file("$dir/target", "KEEP\n");
symlink "$dir/target", "$dir/spawn.pid" or die "symlink: $!";
my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
pid = $dir/spawn.pid

[p]
command = /usr/bin/php-cgi8.2
user = www-data
pm = ondemand
EOC
mkdir "$dir/run";
my $out = `timeout 10 '${\ spawn_bin()}' -F -c '$conf' 2>&1`;
my $rc = $? >> 8;
isnt($rc, 0, 'the spawner does not start');
like($out, qr/cannot write pid file \Q$dir\E\/spawn\.pid: Too many levels of symbolic links/,
     '... and says why');
is(read_file("$dir/target"), "KEEP\n", 'the symlink\'s target is untouched');
done_testing();

sub read_file { open my $fh, '<', $_[0] or return ''; local $/; scalar <$fh> }
