use balgan::{Device, Tensor};
fn main() -> balgan::Result<()> {
    let dev = Device::new()?;
    let a = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?.requires_grad_();
    let b = Tensor::from_slice(&dev, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2])?;
    let c = a.matmul(&b)?;
    println!("c = {:?}", c.to_vec()?);
    let s = c.tanh()?.sum_all()?;
    println!("s = {}", s.item()?);
    s.backward()?;
    println!("da = {:?}", a.grad().unwrap().to_vec()?);
    let r = Tensor::randn(&dev, &[8], 0)?;
    println!("randn = {:?}", r.to_vec()?);
    let big = Tensor::ones(&dev, &[(1 << 24) + 3])?;
    println!("sum big = {}", big.sum_all()?.item()?);
    let m = Tensor::from_slice(&dev, &[1.0, 5.0, 3.0, 2.0], &[2, 2])?;
    println!("max0 = {:?} sum1={:?} mean0={:?}", m.max(&[0], false)?.to_vec()?, m.sum(&[1], false)?.to_vec()?, m.mean(&[0], true)?.to_vec()?);
    println!("perm = {:?}", m.transpose(0, 1)?.to_vec()?);
    Ok(())
}
