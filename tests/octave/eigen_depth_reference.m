% Eigen-depth of one BIWI frame by the original MATLAB code (wuancong/depth_reid, utils/),
% run under Octave with the knnsearch stand-in of this folder.
% Usage: octave --eval "eigen_depth_reference('<depth_reid>/utils', depth, userMap, skel, out)"
function eigen_depth_reference(utils, depth_file, mask_file, skeleton_file, out)
pkg load statistics; pkg load image;
addpath(utils);
addpath(fileparts(mfilename('fullpath')));  % this folder's knnsearch comes first
depth = imread(depth_file);
mask = imread(mask_file);
skeleton = dlmread(skeleton_file);
pc = compute_person_pointcloud(depth, mask);
torso = segment_torso(pc, skeleton);
normals = estimateNormals(torso);
[~, ~, ew, eb] = dvcov_and_eigen_depth_extraction(torso, normals);
ew1 = eigen_depth(within_patch_covariance(segment_patch(torso, normals, 1, 1)));
p.n_col = 3; p.n_row = 4;
[~, ~, ew34, eb34] = dvcov_and_eigen_depth_extraction(torso, normals, p);
save('-v7', out, 'pc', 'torso', 'normals', 'ew', 'eb', 'ew1', 'ew34', 'eb34');
end
