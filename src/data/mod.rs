//! Datasets: loaders (IDX, CIFAR-10 binary, image folders), the imbalance
//! recipes of the published models, batching, and image output.
